package redisstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/brook-streams/brook/stream"
)

var errStop = errors.New("stop")

// counter emits 0..n-1, flushing after each record (so barriers pass
// often); with failAfter it fails once it has emitted that many.
type counter struct {
	pos, n, failAfter int64
	saved             <-chan struct{} // closed once a checkpoint is stored
	start             int64           // where Run began (after a restore)
}

func (c *counter) Run(ctx context.Context, out stream.SourceOutput[int64]) error {
	c.start = c.pos
	for c.pos < c.n {
		if c.failAfter > 0 && c.pos >= c.failAfter {
			// Crash only once a checkpoint is in the store; meanwhile
			// keep flushing, which lets barriers in.
			select {
			case <-c.saved:
				return errStop
			case <-ctx.Done():
				return ctx.Err()
			default:
			}
			if err := out.Flush(); err != nil {
				return err
			}
			continue
		}
		v := c.pos
		c.pos++
		if err := out.Emit(stream.At(v, stream.Time(v))); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return nil
}
func (c *counter) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, c.pos), nil }
func (c *counter) Restore(b []byte) error {
	v, n := binary.Varint(b)
	if n <= 0 {
		return errors.New("bad position")
	}
	c.pos = v
	return nil
}

// summer keeps a running sum and emits it once, at the end of input.
type summer struct{ sum int64 }

func (s *summer) ProcessRecord(r stream.Record[int64], _ stream.Emitter[int64]) error {
	s.sum += r.Value
	return nil
}
func (s *summer) ProcessWatermark(w stream.Time, out stream.Emitter[int64]) error {
	if w == stream.MaxTime {
		return out.Emit(stream.At(s.sum, w))
	}
	return nil
}
func (s *summer) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, s.sum), nil }
func (s *summer) Restore(b []byte) error {
	v, n := binary.Varint(b)
	if n <= 0 {
		return errors.New("bad sum")
	}
	s.sum = v
	return nil
}

// notifyStore closes saved after its first Save.
type notifyStore struct {
	stream.CheckpointStore
	saved chan struct{}
	once  sync.Once
}

func (n *notifyStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	err := n.CheckpointStore.Save(ctx, cp)
	if err == nil {
		n.once.Do(func() { close(n.saved) })
	}
	return err
}
