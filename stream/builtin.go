package stream

import (
	"context"
	"fmt"
	"iter"
	"sync"
)

// Slice is a bounded source of values, each at event time 0 unless
// [WithTimestamps] sets it.
func Slice[T any](values []T) Source[T] { return &sliceSource[T]{values: values} }

type sliceSource[T any] struct{ values []T }

func (s *sliceSource[T]) Run(ctx context.Context, out SourceOutput[T]) error {
	if so, ok := out.(*sourceOut[T]); ok {
		return so.emitValues(ctx, s.values)
	}
	done := ctx.Done()
	for i, v := range s.values {
		if i&1023 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		if err := out.Emit(Record[T]{Value: v}); err != nil {
			return err
		}
	}
	return nil
}

// Records is a bounded source of records with their times.
func Records[T any](records []Record[T]) Source[T] { return &recordSource[T]{records: records} }

type recordSource[T any] struct{ records []Record[T] }

func (s *recordSource[T]) Run(ctx context.Context, out SourceOutput[T]) error {
	if so, ok := out.(*sourceOut[T]); ok {
		return so.emitRecords(ctx, s.records)
	}
	done := ctx.Done()
	for i, r := range s.records {
		if i&1023 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		if err := out.Emit(r); err != nil {
			return err
		}
	}
	return nil
}

// Seq is a source of the values of seq (single-use or not: it is ranged over
// once per run), each at event time 0 unless [WithTimestamps] sets it.
func Seq[T any](seq iter.Seq[T]) Source[T] { return &seqSource[T]{seq: seq} }

type seqSource[T any] struct{ seq iter.Seq[T] }

func (s *seqSource[T]) Run(ctx context.Context, out SourceOutput[T]) error {
	if s.seq == nil {
		return fmt.Errorf("%w: nil iter.Seq", ErrInvalid)
	}
	var err error
	i := 0
	done := ctx.Done()
	for v := range s.seq {
		if i++; i&1023 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		if err = out.Emit(Record[T]{Value: v}); err != nil {
			return err
		}
	}
	return nil
}

// Generate is a source that calls fn(i) for i = 0, 1, ... n-1 and emits the
// records it returns; n < 0 means until the run is cancelled.
func Generate[T any](n int64, fn func(i int64) Record[T]) Source[T] {
	return &genSource[T]{n: n, fn: fn}
}

// GenerateBatch is [Generate] with the loop in fn, for generators whose
// cost is the call per record: fn(first, rs) sets rs[j] to the record of
// i = first+j for every j, in one call per batch (of up to the pipeline's
// batch size, fewer for large records: see [DefaultBatchSize]). The
// elements of rs are not zeroed: they hold records of earlier batches,
// which the operators behind the source may have changed, so fn must set
// every field of each. rs is lent for the call. fn fills a whole batch
// before the first of its records goes on, also where the chain behind
// takes records one at a time (in front of a user operator).
func GenerateBatch[T any](n int64, fn func(first int64, rs []Record[T])) Source[T] {
	return &genSource[T]{n: n, fill: fn}
}

type genSource[T any] struct {
	n    int64
	fn   func(int64) Record[T]
	fill func(int64, []Record[T]) // GenerateBatch's, instead of fn
}

func (s *genSource[T]) Run(ctx context.Context, out SourceOutput[T]) error {
	if s.fn == nil && s.fill == nil {
		return fmt.Errorf("%w: nil generator function", ErrInvalid)
	}
	so, ok := out.(*sourceOut[T])
	if ok && so.batching() {
		return s.runBatched(ctx, so)
	}
	if s.fill != nil {
		size := batchLen[T]()
		if ok {
			size = max(1, min(size, so.batch))
		}
		return s.runFilled(ctx, so, out, size)
	}
	done := ctx.Done()
	for i := int64(0); s.n < 0 || i < s.n; i++ {
		if i&1023 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		if so != nil {
			so.t.cur = so.id // a panic in fn is the source's
		}
		if err := out.Emit(s.fn(i)); err != nil {
			return err
		}
	}
	return nil
}

// runBatched generates a batch of records at a time into the source's
// buffer and emits it.
func (s *genSource[T]) runBatched(ctx context.Context, so *sourceOut[T]) error {
	return s.batches(ctx, so, so.batchBuf(), so.emitBatch)
}

// runFilled is GenerateBatch's Run when the chain behind takes records one
// at a time: a batch of size records filled, then emitted record by record.
func (s *genSource[T]) runFilled(ctx context.Context, so *sourceOut[T], out SourceOutput[T], size int) error {
	return s.batches(ctx, so, make([]Record[T], size), func(rs []Record[T]) error {
		for i := range rs {
			if err := out.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// batches generates the records a batch at a time into buf and hands each
// batch to emit, checking ctx between batches. so is the source's output
// (nil if out is not the runtime's), so that a panic while generating is
// the source's.
func (s *genSource[T]) batches(ctx context.Context, so *sourceOut[T], buf []Record[T], emit func([]Record[T]) error) error {
	done := ctx.Done()
	for i := int64(0); s.n < 0 || i < s.n; {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		k := len(buf)
		if s.n >= 0 {
			k = int(min(int64(k), s.n-i))
		}
		rs := buf[:k]
		if so != nil {
			so.t.cur = so.id
		}
		if s.fill != nil {
			s.fill(i, rs)
			i += int64(k)
		} else {
			for j := range rs {
				rs[j] = s.fn(i)
				i++
			}
		}
		if err := emit(rs); err != nil {
			return err
		}
	}
	return nil
}

// Chan is a source of the values received from ch until it is closed, each
// at event time 0 unless [WithTimestamps] sets it. While ch is empty the
// source flushes its exchanges, so nothing waits in a half-full batch.
func Chan[T any](ch <-chan T) Source[T] { return &chanSource[T]{ch: ch} }

type chanSource[T any] struct{ ch <-chan T }

func (s *chanSource[T]) Run(ctx context.Context, out SourceOutput[T]) error {
	done := ctx.Done()
	for {
		var v T
		var ok bool
		select {
		case v, ok = <-s.ch:
		default:
			if err := out.Await(func() error {
				select {
				case v, ok = <-s.ch:
				case <-done:
				}
				return nil
			}); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		if err := out.Emit(Record[T]{Value: v}); err != nil {
			return err
		}
	}
}

// CollectSink keeps every record it receives, for tests and small results.
// Its methods are safe to call while the pipeline runs.
type CollectSink[T any] struct {
	mu   sync.Mutex
	recs []Record[T]
}

// Collect returns a new CollectSink.
func Collect[T any]() *CollectSink[T] { return &CollectSink[T]{} }

// Write appends r.
func (c *CollectSink[T]) Write(_ context.Context, r Record[T]) error {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	return nil
}

// Records returns a copy of the records received so far, in arrival order.
func (c *CollectSink[T]) Records() []Record[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record[T](nil), c.recs...)
}

// Values returns the values received so far, in arrival order.
func (c *CollectSink[T]) Values() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	vs := make([]T, len(c.recs))
	for i, r := range c.recs {
		vs[i] = r.Value
	}
	return vs
}

// Discard is a sink that drops everything: for benchmarks and for streams
// consumed only for their side effects.
func Discard[T any]() Sink[T] { return discardSink[T]{} }

type discardSink[T any] struct{}

func (discardSink[T]) Write(context.Context, Record[T]) error { return nil }

// ChanSink is a sink that sends each value to ch, blocking (with the run's
// context) while ch is full. It does not close ch.
func ChanSink[T any](ch chan<- T) Sink[T] { return &chanSink[T]{ch: ch} }

type chanSink[T any] struct{ ch chan<- T }

func (s *chanSink[T]) Write(ctx context.Context, r Record[T]) error {
	select {
	case s.ch <- r.Value:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
