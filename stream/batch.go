package stream

import (
	"context"
	"fmt"
)

// MapBatch applies fn to the records of s a batch at a time: fn appends
// its outputs for the records of in to out and returns out. It may emit
// any number of records for each input, at times of its choosing: keeping
// the input's time is the usual choice; an output behind the current
// watermark is late downstream, as from any operator.
//
// It is [Map] or [FlatMap] for the hottest parts of a job, where one call
// per record through a function value is the cost: with the loop in fn
// the compiler inlines the work of each record. A batch holds records in
// the order they arrived, with no watermark or checkpoint barrier between
// them. Batches are the runtime's own: their length follows the batch
// size of the source or exchange feeding the chain ([WithBatchSize],
// [BatchSize]), a rising watermark cuts them, and fn must not depend on
// it. A batch is one record when s comes out of a user operator, or when
// a user operator ([Apply], [Process], a window or join) follows in the
// same chain, so that user code along the chain interleaves as it does
// one record at a time.
//
// in and out are lent for the call: fn may overwrite the elements of in,
// and out starts empty with room for at least len(in) records (fn may
// append past that; the runtime then keeps the larger buffer), but fn must
// not keep either slice once it returns.
//
// Its default name is its input's name and ".map" (see [Name]).
func MapBatch[In, Out any](s Stream[In], fn func(in []Record[In], out []Record[Out]) []Record[Out], opts ...OperatorOption) Stream[Out] {
	name := plainName(s, "map", opts)
	if fn == nil {
		s.must().p.failf("%s: nil function", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[Out], id int, cnt *counts) (inlet[In], error) {
		n := &mapBatchNode[In, Out]{fn: fn, next: next, t: b.t, id: id, cnt: cnt}
		n.out = make([]Record[Out], 0, max(batchLen[Out](), batchLen[In]()))
		return n, nil
	})
}

type mapBatchNode[In, Out any] struct {
	fn   func([]Record[In], []Record[Out]) []Record[Out]
	next inlet[Out]
	t    *task
	id   int
	cnt  *counts
	out  []Record[Out] // the output buffer lent to fn
	one  [1]Record[In] // the batch of one record of Emit
	batchTo[Out]
}

func (n *mapBatchNode[In, Out]) canBatch() bool { return canBatch(n.next) }

func (n *mapBatchNode[In, Out]) Emit(r Record[In]) error {
	n.one[0] = r
	err := n.run(n.one[:])
	var zero Record[In]
	n.one[0] = zero // drop what r points to
	return err
}

func (n *mapBatchNode[In, Out]) emitBatch(rs []Record[In]) error {
	for len(rs) > 0 {
		chunk := rs[:min(len(rs), cap(n.out))]
		rs = rs[len(chunk):]
		if err := n.run(chunk); err != nil {
			return err
		}
	}
	return nil
}

// run calls fn on in (no longer than the output buffer's capacity) and
// hands its outputs on: a batch at a time, or record by record when the
// chain after n cannot take batches.
func (n *mapBatchNode[In, Out]) run(in []Record[In]) error {
	n.cnt.in += int64(len(in))
	n.t.cur = n.id
	out := n.fn(in, n.out[:0])
	if len(out) > cap(n.out) {
		n.out = out[:0] // fn grew the buffer: keep it
	}
	n.cnt.out += int64(len(out))
	if len(out) == 0 {
		return nil
	}
	if n.batched(n.next) {
		return n.nextB.emitBatch(out)
	}
	for i := range out {
		if err := n.next.Emit(out[i]); err != nil {
			return err
		}
	}
	return nil
}

func (n *mapBatchNode[In, Out]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		n.cnt.wm = c.wm
	}
	return n.next.ctrl(c)
}

// FilterBatch keeps the records of s that keep selects, a batch at a time:
// keep moves the records it keeps to the front of rs, in order and
// unchanged, and returns that prefix (rs[:k]). Batches are as for
// [MapBatch], and rs is lent for the call in the same way. A result that
// is not a prefix of rs fails the run with [ErrInvalid].
//
// Its default name is its input's name and ".filter" (see [Name]).
func FilterBatch[T any](s Stream[T], keep func(rs []Record[T]) []Record[T], opts ...OperatorOption) Stream[T] {
	name := plainName(s, "filter", opts)
	if keep == nil {
		s.must().p.failf("%s: nil function", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[T], id int, cnt *counts) (inlet[T], error) {
		return &filterBatchNode[T]{keep: keep, next: next, t: b.t, id: id, cnt: cnt, name: name}, nil
	})
}

type filterBatchNode[T any] struct {
	keep func([]Record[T]) []Record[T]
	next inlet[T]
	t    *task
	id   int
	cnt  *counts
	name string
	one  [1]Record[T]
	batchTo[T]
}

func (n *filterBatchNode[T]) canBatch() bool { return canBatch(n.next) }

func (n *filterBatchNode[T]) Emit(r Record[T]) error {
	n.one[0] = r
	kept, err := n.filter(n.one[:])
	if err == nil && len(kept) == 1 {
		err = n.next.Emit(kept[0])
	}
	var zero Record[T]
	n.one[0] = zero
	return err
}

// filter calls keep on rs and checks that it returned a prefix of rs.
func (n *filterBatchNode[T]) filter(rs []Record[T]) ([]Record[T], error) {
	n.cnt.in += int64(len(rs))
	n.t.cur = n.id
	kept := n.keep(rs)
	if len(kept) > len(rs) || (len(kept) > 0 && &kept[0] != &rs[0]) {
		return nil, &OperatorError{Op: n.name, Err: fmt.Errorf("%w: keep returned %d records that are not a prefix of its %d", ErrInvalid, len(kept), len(rs))}
	}
	n.cnt.out += int64(len(kept))
	return kept, nil
}

func (n *filterBatchNode[T]) emitBatch(rs []Record[T]) error {
	if !n.batched(n.next) {
		for i := range rs {
			if err := n.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	kept, err := n.filter(rs)
	if err != nil || len(kept) == 0 {
		return err
	}
	return n.nextB.emitBatch(kept)
}

func (n *filterBatchNode[T]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		n.cnt.wm = c.wm
	}
	return n.next.ctrl(c)
}

// BatchWriter is implemented by sinks that write a batch of records per
// call: the runtime then calls WriteBatch instead of Write, once for each
// batch the chain in front of the sink hands on, in order (see [MapBatch]
// for what a batch is), with a slice of one record when records come one at
// a time. rs is lent for the call: the sink must not keep it. With
// [RetryWrites] a failed call is retried with the same batch, so a sink
// should write a batch all or nothing, or idempotently. An error fails the
// run as from Write.
type BatchWriter[T any] interface {
	WriteBatch(ctx context.Context, rs []Record[T]) error
}

// SinkBatch adapts a function to a [Sink] that writes a batch per call
// ([BatchWriter]).
type SinkBatch[T any] func(ctx context.Context, rs []Record[T]) error

// WriteBatch calls f(ctx, rs).
func (f SinkBatch[T]) WriteBatch(ctx context.Context, rs []Record[T]) error { return f(ctx, rs) }

// Write calls f with a batch of one.
func (f SinkBatch[T]) Write(ctx context.Context, r Record[T]) error {
	return f(ctx, []Record[T]{r})
}

// writeBatch writes rs through the sink's WriteBatch, with retries if
// configured.
func (n *sinkNode[T]) writeBatch(rs []Record[T]) error {
	n.cnt.in += int64(len(rs))
	n.t.cur = n.id
	err := n.batch.WriteBatch(n.ctx, rs)
	if err != nil && n.retry != nil {
		err = n.retrying(err, func() error { return n.batch.WriteBatch(n.ctx, rs) })
	}
	return opErr(n.name, err)
}
