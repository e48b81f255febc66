package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Checkpoint is a consistent snapshot of a pipeline's state: the state of
// every stateful source, operator and sink instance, keyed by
// "operator-name/instance", taken by the asynchronous barrier snapshot
// scheme (see [WithCheckpoints]).
type Checkpoint struct {
	ID     int64
	States map[string][]byte
}

// CheckpointStore keeps completed checkpoints. Save must be atomic: after a
// crash, Latest returns either the new checkpoint or the previous one, never
// a torn one. Implementations must be safe for concurrent use.
type CheckpointStore interface {
	Save(ctx context.Context, cp *Checkpoint) error
	// Latest returns the newest intact checkpoint, or nil and no error if
	// there is none.
	Latest(ctx context.Context) (*Checkpoint, error)
}

// CheckpointListener is implemented by sources and sinks that act when a
// checkpoint is complete: a Kafka source commits the offsets it recorded in
// that checkpoint's Snapshot, a transactional sink commits. It is called
// from the checkpoint coordinator's goroutine, concurrently with the
// source's Run or the sink's Write, after the checkpoint is in the store.
type CheckpointListener interface {
	CheckpointComplete(ctx context.Context, id int64) error
}

// ErrCorruptCheckpoint is wrapped by errors about checkpoint data that does
// not decode.
var ErrCorruptCheckpoint = errors.New("stream: corrupt checkpoint")

// WithCheckpoints enables checkpoints every interval (processing time, by
// the pipeline's clock) into store. Run first restores the latest
// checkpoint in store, if any: every [Snapshotter] source, operator and sink
// gets its state back before its first record, and sources seek back to
// their position, so the state after a crash is exactly-once. Output is
// exactly-once with idempotent or transactional sinks, at-least-once
// otherwise.
//
// A barrier enters the dataflow at every source (when the source next emits
// or flushes after the trigger); operators snapshot as it passes; exchanges
// align it over their inputs; a checkpoint completes when every sink has it.
// One checkpoint is in flight at a time, and none is started once a source
// has ended. The restored pipeline must have the same shape (operator names
// and parallelism) as the one that wrote the checkpoint.
func WithCheckpoints(store CheckpointStore, interval time.Duration) Option {
	return optionFunc(func(c *config) error {
		if store == nil {
			return fmt.Errorf("%w: nil checkpoint store", ErrInvalid)
		}
		if interval <= 0 {
			return fmt.Errorf("%w: checkpoint interval %v <= 0", ErrInvalid, interval)
		}
		c.store, c.ckptInterval = store, interval
		return nil
	})
}

// stateMsg is one instance's part of a checkpoint, or a sink's ack.
type stateMsg struct {
	id    int64
	key   string
	state []byte
	has   bool // state is set
	sink  bool // a sink acknowledges the barrier
}

// coordinator triggers checkpoints, collects their parts and stores them.
type coordinator struct {
	store     CheckpointStore
	interval  time.Duration
	clock     Clock
	parts     chan stateMsg
	sources   []*atomic.Int64 // pending barrier id per source task
	nStates   int
	nSinks    int
	listeners []CheckpointListener
	restored  map[string][]byte
	next      int64
	ended     atomic.Bool // a source ended: start no more checkpoints
	tick      chan struct{}
	stop      func() bool
}

func (c *coordinator) send(ctx context.Context, m stateMsg) error {
	select {
	case c.parts <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restore returns the state saved for key in the restored checkpoint.
func (c *coordinator) restore(key string) ([]byte, bool) {
	if c == nil || c.restored == nil {
		return nil, false
	}
	s, ok := c.restored[key]
	return s, ok
}

func (c *coordinator) arm() {
	c.stop = c.clock.AfterFunc(c.interval, func() {
		select {
		case c.tick <- struct{}{}:
		default:
		}
	})
}

// run is the coordinator goroutine. It returns when done closes (every task
// has finished) or ctx is cancelled.
func (c *coordinator) run(ctx context.Context, done <-chan struct{}) error {
	c.arm()
	defer func() { c.stop() }()
	var (
		inFlight int64
		states   map[string][]byte
		got      int
		acks     int
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return nil
		case <-c.tick:
			if inFlight == 0 && !c.ended.Load() {
				c.next++
				inFlight, states, got, acks = c.next, map[string][]byte{}, 0, 0
				for _, s := range c.sources {
					s.Store(inFlight)
				}
			}
			c.arm()
		case m := <-c.parts:
			if m.id != inFlight {
				continue
			}
			if m.has {
				states[m.key] = m.state
				got++
			}
			if m.sink {
				acks++
			}
			if got < c.nStates || acks < c.nSinks {
				continue
			}
			cp := &Checkpoint{ID: inFlight, States: states}
			if err := c.store.Save(ctx, cp); err != nil {
				return &OperatorError{Op: "checkpoint", Err: err}
			}
			for _, l := range c.listeners {
				if err := l.CheckpointComplete(ctx, inFlight); err != nil {
					return &OperatorError{Op: "checkpoint", Err: err}
				}
			}
			inFlight = 0
		}
	}
}

// stateful wraps an instance's Snapshotter with the runtime's own state for
// it (its watermark), under a stable key.
type stateful struct {
	key  string
	snap Snapshotter
	wm   *Time
}

func (s stateful) snapshot() ([]byte, error) {
	var buf []byte
	buf = binary.AppendVarint(buf, int64(*s.wm))
	if s.snap != nil {
		st, err := s.snap.Snapshot()
		if err != nil {
			return nil, err
		}
		buf = append(buf, st...)
	}
	return buf, nil
}

func (s stateful) restore(b []byte) error {
	w, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("%w: state of %s", ErrCorruptCheckpoint, s.key)
	}
	*s.wm = Time(w)
	if s.snap != nil {
		return s.snap.Restore(b[n:])
	}
	return nil
}

// registerState wires an instance's state into checkpoints: restore before
// its first record, snapshot at each barrier.
func (b *builder) registerState(name string, inst int, snap Snapshotter, wm *Time) *stateful {
	co := b.rt.co
	if co == nil {
		return nil
	}
	st := &stateful{key: name + "/" + strconv.Itoa(inst), snap: snap, wm: wm}
	co.nStates++
	if saved, ok := co.restore(st.key); ok {
		b.t.openers = append(b.t.openers, func() error { return opErr(name, st.restore(saved)) })
	} else if co.restored != nil {
		b.t.openers = append(b.t.openers, func() error {
			return opErr(name, fmt.Errorf("%w: checkpoint has no state for %s (pipeline changed?)", ErrInvalid, st.key))
		})
	}
	return st
}

// DirStore is a CheckpointStore in a local directory. Save writes a file,
// fsyncs it, renames it into place and fsyncs the directory; it keeps the
// newest Keep checkpoints (default 3). Latest skips torn or corrupt files and
// returns the newest intact one.
type DirStore struct {
	Dir  string
	Keep int
}

// NewDirStore returns a DirStore in dir, creating it if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &DirStore{Dir: dir, Keep: 3}, nil
}

const ckptPrefix, ckptSuffix = "ckpt-", ".bin"

func (d *DirStore) path(id int64) string {
	return filepath.Join(d.Dir, fmt.Sprintf("%s%020d%s", ckptPrefix, id, ckptSuffix))
}

// Save stores cp atomically.
func (d *DirStore) Save(_ context.Context, cp *Checkpoint) error {
	data := EncodeCheckpoint(cp)
	tmp, err := os.CreateTemp(d.Dir, ".tmp-ckpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), d.path(cp.ID)); err != nil {
		return err
	}
	if dir, err := os.Open(d.Dir); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return d.prune()
}

func (d *DirStore) ids() ([]int64, error) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ckptPrefix) || !strings.HasSuffix(name, ckptSuffix) {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, ckptPrefix), ckptSuffix), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (d *DirStore) prune() error {
	keep := d.Keep
	if keep < 1 {
		keep = 3
	}
	ids, err := d.ids()
	if err != nil {
		return err
	}
	for len(ids) > keep {
		if err := os.Remove(d.path(ids[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		ids = ids[1:]
	}
	return nil
}

// Latest returns the newest intact checkpoint, or nil.
func (d *DirStore) Latest(context.Context) (*Checkpoint, error) {
	ids, err := d.ids()
	if err != nil {
		return nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		data, err := os.ReadFile(d.path(ids[i]))
		if err != nil {
			continue
		}
		cp, err := DecodeCheckpoint(data)
		if err != nil || cp.ID != ids[i] {
			continue // torn or corrupt: fall back to the previous one
		}
		return cp, nil
	}
	return nil, nil
}

var ckptMagic = []byte("BRCK\x01")

// EncodeCheckpoint serializes cp: a magic and version, the id, the states
// sorted by key, and a CRC-32C of all of it.
func EncodeCheckpoint(cp *Checkpoint) []byte {
	keys := make([]string, 0, len(cp.States))
	for k := range cp.States {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := append([]byte(nil), ckptMagic...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(cp.ID))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(keys)))
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(k)))
		buf = append(buf, k...)
		v := cp.States[k]
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, v...)
	}
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, crcTable))
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// DecodeCheckpoint parses what EncodeCheckpoint wrote. Any damage gives an
// error wrapping ErrCorruptCheckpoint, never a panic.
func DecodeCheckpoint(data []byte) (*Checkpoint, error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrCorruptCheckpoint, what) }
	if len(data) < len(ckptMagic)+8+4+4 {
		return nil, bad("too short")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, bad("checksum mismatch")
	}
	if string(body[:len(ckptMagic)]) != string(ckptMagic) {
		return nil, bad("bad magic or version")
	}
	b := body[len(ckptMagic):]
	cp := &Checkpoint{ID: int64(binary.BigEndian.Uint64(b)), States: map[string][]byte{}}
	n := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(l) > uint64(len(b)-4) {
			return nil, false
		}
		v := b[4 : 4+l]
		b = b[4+l:]
		return v, true
	}
	for i := uint32(0); i < n; i++ {
		k, ok := next()
		if !ok {
			return nil, bad("truncated key")
		}
		v, ok := next()
		if !ok {
			return nil, bad("truncated state")
		}
		cp.States[string(k)] = append([]byte{}, v...)
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return cp, nil
}
