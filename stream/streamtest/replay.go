package streamtest

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/brook-streams/brook/stream"
)

// Replay is a checkpointable source of fixed records, for testing pipelines
// under checkpoints: its position is its state ([stream.Snapshotter]), and it
// flushes every ten records so barriers pass often. With Hold set it does not
// end after the last record but waits in [stream.SourceOutput.Await], like a
// source waiting for more input, until its context is done (the run is
// cancelled, fails or stops) — so a test can crash or stop the pipeline at a
// checkpoint before the input ends. Checkpoints go on while it waits.
type Replay[T any] struct {
	recs []stream.Record[T]
	pos  int64 // the next record to emit
	// Hold keeps the source open after its last record.
	Hold bool
}

// NewReplay returns a Replay of recs.
func NewReplay[T any](recs []stream.Record[T]) *Replay[T] { return &Replay[T]{recs: recs} }

// Run emits the records from the current position.
func (s *Replay[T]) Run(ctx context.Context, out stream.SourceOutput[T]) error {
	for s.pos < int64(len(s.recs)) {
		r := s.recs[s.pos]
		s.pos++ // consumed before Emit: a barrier may be injected inside it
		if err := out.Emit(r); err != nil {
			return err
		}
		if s.pos%10 == 0 {
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
	if !s.Hold {
		return nil
	}
	if err := out.Await(func() error { <-ctx.Done(); return nil }); err != nil {
		return err
	}
	return ctx.Err()
}

// Snapshot returns the position.
func (s *Replay[T]) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, s.pos), nil }

// Restore seeks to a position from Snapshot.
func (s *Replay[T]) Restore(b []byte) error {
	v, n := binary.Varint(b)
	if n <= 0 || n != len(b) || v < 0 || v > int64(len(s.recs)) {
		return fmt.Errorf("%w: replay position", stream.ErrCorruptCheckpoint)
	}
	s.pos = v
	return nil
}
