package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

func loggerOf(p *Pipeline) *slog.Logger {
	if p.cfg.logger != nil {
		return p.cfg.logger
	}
	return slog.New(slog.DiscardHandler)
}

// OperatorOption configures an operator without settings of its own kind:
// [Map], [Filter], [FlatMap], [Process], [Apply] and [AssignWatermarks]. The
// only such option is [Name].
type OperatorOption func(*OperatorConfig)

// plainName is the unique name of an operator of kind reading s, configured
// by opts.
func plainName[T any](s Stream[T], kind string, opts []OperatorOption) string {
	in := s.must()
	return in.p.opName(in.name, Configure[OperatorOption, struct{}](kind, nil, opts))
}

// chained adds a one-to-one operator named name to s: it runs in the same
// goroutine as its input, called directly for each record.
func chained[In, Out any](s Stream[In], name string, mk func(b *builder, name string, inst int, next inlet[Out], id int, cnt *counts) (inlet[In], error)) Stream[Out] {
	in := s.must()
	o := newOutlet[Out](in.p, name, in.parallelism)
	in.consume(func(b *builder, inst int) (inlet[In], error) {
		next, err := o.build(b, inst)
		if err != nil {
			return nil, err
		}
		return mk(b, name, inst, next, b.t.node(name), b.t.newCounts(b.rt, name, inst))
	})
	return Stream[Out]{o: o}
}

// Map applies fn to every record's value, keeping its time.
func Map[In, Out any](s Stream[In], fn func(In) Out, opts ...OperatorOption) Stream[Out] {
	name := plainName(s, "map", opts)
	if fn == nil {
		s.must().p.failf("%s: nil function", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[Out], id int, cnt *counts) (inlet[In], error) {
		cnt.oneToOne = true
		return &mapNode[In, Out]{fn: fn, next: next, t: b.t, id: id, cnt: cnt}, nil
	})
}

type mapNode[In, Out any] struct {
	fn   func(In) Out
	next inlet[Out]
	t    *task
	id   int
	cnt  *counts

	// batch-at-a-time: the results of a batch, and the Filter right after
	// this Map when there is one, fused into the same loop.
	nextB  batchInlet[Out]
	buf    []Record[Out]
	filter *filterNode[Out]
	// sink is the sink after this Map, or after the Filter fused with it,
	// when it is a SinkFunc without retries: called in the same loop as
	// the Map and a Filter before or after it (mapFilter, emitFiltered),
	// one pass over the batch in all.
	sink  *sinkNode[Out]
	depth int8 // 0: not decided yet, 1: a batch at a time, -1: record by record
}

func (n *mapNode[In, Out]) canBatch() bool { return canBatch(n.next) }

func (n *mapNode[In, Out]) Emit(r Record[In]) error {
	n.cnt.in++
	n.t.cur = n.id
	return n.next.Emit(Record[Out]{Time: r.Time, Value: n.fn(r.Value)})
}

// decide settles, at the first batch, whether n runs a batch at a time.
func (n *mapNode[In, Out]) decide() {
	if n.depth != 0 {
		return
	}
	n.depth = -1
	if n.canBatch() {
		n.depth = 1
		n.nextB = asBatch(n.next)
		if f, ok := n.next.(*filterNode[Out]); ok {
			n.filter, n.nextB = f, asBatch(f.next)
		}
		if s, ok := n.nextB.(*sinkNode[Out]); ok && s.fn != nil && s.retry == nil {
			n.sink = s
		}
		n.buf = make([]Record[Out], batchLen[Out]())
	}
}

// emitValues is emitBatch of values at time 0 (see valuesInlet).
func (n *mapNode[In, Out]) emitValues(vs []In) error {
	n.decide()
	if n.depth < 0 {
		for _, v := range vs {
			if err := n.Emit(Record[In]{Value: v}); err != nil {
				return err
			}
		}
		return nil
	}
	n.cnt.in += int64(len(vs))
	for len(vs) > 0 {
		chunk := vs[:min(len(vs), len(n.buf))]
		vs = vs[len(chunk):]
		var out []Record[Out]
		if f := n.filter; f != nil {
			var err error
			if out, err = n.mapFilterValues(chunk, f); err != nil {
				return err
			}
		} else {
			out = n.buf[:len(chunk)]
			n.t.cur = n.id
			fn := n.fn
			for i, v := range chunk {
				out[i] = Record[Out]{Value: fn(v)}
			}
		}
		if len(out) == 0 {
			continue
		}
		if err := n.nextB.emitBatch(out); err != nil {
			return err
		}
	}
	return nil
}

// mapFilterValues is mapFilter of values at time 0.
func (n *mapNode[In, Out]) mapFilterValues(chunk []In, f *filterNode[Out]) ([]Record[Out], error) {
	t, fn, keep, buf := n.t, n.fn, f.keep, n.buf[:len(chunk)]
	mapID, filterID := n.id, f.id
	if s := n.sink; s != nil {
		put, ctx, sinkID := s.fn, s.ctx, s.id
		k := 0
		for i, v := range chunk {
			t.cur = mapID
			y := fn(v)
			t.cur = filterID
			if keep(y) {
				k++
				t.cur = sinkID
				if err := put(ctx, Record[Out]{Value: y}); err != nil {
					n.countFused(f, i+1, k)
					return nil, opErr(s.name, err)
				}
			}
		}
		n.countFused(f, len(chunk), k)
		return nil, nil
	}
	k := 0
	for _, v := range chunk {
		t.cur = mapID
		y := fn(v)
		t.cur = filterID
		if keep(y) {
			buf[k] = Record[Out]{Value: y}
			k++
		}
	}
	f.cnt.in += int64(len(chunk))
	f.cnt.out += int64(k)
	return buf[:k], nil
}

// countFused counts in records into the Filter and kept out of it, into
// the sink fused with them.
func (n *mapNode[In, Out]) countFused(f *filterNode[Out], in, kept int) {
	f.cnt.in += int64(in)
	f.cnt.out += int64(kept)
	n.sink.cnt.in += int64(kept)
}

func (n *mapNode[In, Out]) emitBatch(rs []Record[In]) error {
	n.decide()
	if n.depth < 0 {
		for i := range rs {
			if err := n.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	n.cnt.in += int64(len(rs))
	for len(rs) > 0 {
		chunk := rs[:min(len(rs), len(n.buf))]
		rs = rs[len(chunk):]
		var out []Record[Out]
		if f := n.filter; f != nil {
			var err error
			if out, err = n.mapFilter(chunk, f); err != nil {
				return err
			}
		} else {
			out = n.buf[:len(chunk)]
			n.t.cur = n.id
			fn := n.fn
			for i := range chunk {
				out[i] = Record[Out]{Time: chunk[i].Time, Value: fn(chunk[i].Value)}
			}
		}
		if len(out) == 0 {
			continue
		}
		if err := n.nextB.emitBatch(out); err != nil {
			return err
		}
	}
	return nil
}

func (n *mapNode[In, Out]) fusesFilter() bool {
	n.decide()
	return n.depth > 0 && n.filter == nil
}

// emitFiltered is the Filter f in front of n and n in one loop (see
// filteredInlet). The task's current node follows the function being
// called, so a panic names the right one.
func (n *mapNode[In, Out]) emitFiltered(rs []Record[In], f *filterNode[In]) error {
	t, keep, fn := n.t, f.keep, n.fn
	mapID, filterID := n.id, f.id
	if s := n.sink; s != nil {
		put, ctx, sinkID := s.fn, s.ctx, s.id
		k := 0
		for i := range rs {
			t.cur = filterID
			if keep(rs[i].Value) {
				t.cur = mapID
				v := fn(rs[i].Value)
				k++
				t.cur = sinkID
				if err := put(ctx, Record[Out]{Time: rs[i].Time, Value: v}); err != nil {
					n.countFiltered(f, i+1, k)
					return opErr(s.name, err)
				}
			}
		}
		n.countFiltered(f, len(rs), k)
		return nil
	}
	for len(rs) > 0 {
		chunk := rs[:min(len(rs), len(n.buf))]
		rs = rs[len(chunk):]
		out := n.buf[:len(chunk)]
		k := 0
		for i := range chunk {
			t.cur = filterID
			if keep(chunk[i].Value) {
				t.cur = mapID
				out[k] = Record[Out]{Time: chunk[i].Time, Value: fn(chunk[i].Value)}
				k++
			}
		}
		f.cnt.in += int64(len(chunk))
		f.cnt.out += int64(k)
		n.cnt.in += int64(k)
		if k == 0 {
			continue
		}
		if err := n.nextB.emitBatch(out[:k]); err != nil {
			return err
		}
	}
	return nil
}

// countFiltered counts in records into the Filter f in front of n and kept
// out of it, into n and into the sink fused with them.
func (n *mapNode[In, Out]) countFiltered(f *filterNode[In], in, kept int) {
	f.cnt.in += int64(in)
	f.cnt.out += int64(kept)
	n.cnt.in += int64(kept)
	n.sink.cnt.in += int64(kept)
}

// mapFilter is Map and the Filter after it in one loop, and the sink after
// them when that is a SinkFunc (see mapNode.sink). The task's current node
// follows the function being called, so a panic names the right one.
func (n *mapNode[In, Out]) mapFilter(chunk []Record[In], f *filterNode[Out]) ([]Record[Out], error) {
	t, fn, keep, buf := n.t, n.fn, f.keep, n.buf[:len(chunk)]
	mapID, filterID := n.id, f.id
	if s := n.sink; s != nil {
		put, ctx, sinkID := s.fn, s.ctx, s.id
		k := 0
		for i := range chunk {
			t.cur = mapID
			v := fn(chunk[i].Value)
			t.cur = filterID
			if keep(v) {
				k++
				t.cur = sinkID
				if err := put(ctx, Record[Out]{Time: chunk[i].Time, Value: v}); err != nil {
					n.countFused(f, i+1, k)
					return nil, opErr(s.name, err)
				}
			}
		}
		n.countFused(f, len(chunk), k)
		return nil, nil
	}
	k := 0
	for i := range chunk {
		t.cur = mapID
		v := fn(chunk[i].Value)
		t.cur = filterID
		if keep(v) {
			buf[k] = Record[Out]{Time: chunk[i].Time, Value: v}
			k++
		}
	}
	f.cnt.in += int64(len(chunk))
	f.cnt.out += int64(k)
	return buf[:k], nil
}

func (n *mapNode[In, Out]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		n.cnt.wm = c.wm
	}
	return n.next.ctrl(c)
}

// Filter keeps the records whose value satisfies keep.
func Filter[T any](s Stream[T], keep func(T) bool, opts ...OperatorOption) Stream[T] {
	name := plainName(s, "filter", opts)
	if keep == nil {
		s.must().p.failf("%s: nil function", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[T], id int, cnt *counts) (inlet[T], error) {
		return &filterNode[T]{keep: keep, next: next, t: b.t, id: id, cnt: cnt}, nil
	})
}

type filterNode[T any] struct {
	keep func(T) bool
	next inlet[T]
	t    *task
	id   int
	cnt  *counts
	batchTo[T]

	// fused is the Map after this Filter when it runs keep in its own
	// loop (see mapNode.emitFiltered); unfused says it does not, once
	// decided at the first batch.
	fused   filteredInlet[T]
	unfused bool
}

// filteredInlet is a batchInlet that can take the batches of the Filter in
// front of it unfiltered, calling the Filter's keep in its own loop: the
// kept records are then not first moved to the front of the batch, a copy
// of every record (and, for values with pointers, write barriers while the
// collector runs).
type filteredInlet[T any] interface {
	batchInlet[T]
	// fusesFilter reports whether emitFiltered may be called: whether the
	// node runs a batch at a time, with no Filter of its own fused after it.
	fusesFilter() bool
	// emitFiltered is emitBatch of the records of rs that f keeps, counted
	// as f's.
	emitFiltered(rs []Record[T], f *filterNode[T]) error
}

func (n *filterNode[T]) canBatch() bool { return canBatch(n.next) }

func (n *filterNode[T]) Emit(r Record[T]) error {
	n.cnt.in++
	n.t.cur = n.id
	if !n.keep(r.Value) {
		return nil
	}
	n.cnt.out++
	return n.next.Emit(r)
}

// emitBatch compacts rs in place to the records kept.
func (n *filterNode[T]) emitBatch(rs []Record[T]) error {
	if !n.batched(n.next) {
		for i := range rs {
			if err := n.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if n.fused == nil && !n.unfused {
		n.fused, _ = n.nextB.(filteredInlet[T])
		n.unfused = n.fused == nil || !n.fused.fusesFilter()
	}
	if !n.unfused {
		return n.fused.emitFiltered(rs, n)
	}
	n.t.cur = n.id
	keep := n.keep
	k := 0
	for i := range rs {
		if keep(rs[i].Value) {
			rs[k] = rs[i]
			k++
		}
	}
	n.cnt.in += int64(len(rs))
	n.cnt.out += int64(k)
	if k == 0 {
		return nil
	}
	return n.nextB.emitBatch(rs[:k])
}

func (n *filterNode[T]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		n.cnt.wm = c.wm
	}
	return n.next.ctrl(c)
}

// FlatMap calls fn for every record; each value fn emits becomes a record at
// the input record's time. fn must return emit's error when it is non-nil.
func FlatMap[In, Out any](s Stream[In], fn func(v In, emit func(Out) error) error, opts ...OperatorOption) Stream[Out] {
	name := plainName(s, "flatmap", opts)
	if fn == nil {
		s.must().p.failf("%s: nil function", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[Out], id int, cnt *counts) (inlet[In], error) {
		n := &flatMapNode[In, Out]{fn: fn, next: next, t: b.t, id: id, cnt: cnt, name: name}
		n.emit = n.emitValue
		return n, nil
	})
}

type flatMapNode[In, Out any] struct {
	fn   func(In, func(Out) error) error
	emit func(Out) error
	next inlet[Out]
	t    *task
	id   int
	cnt  *counts
	name string
	at   Time

	// batch-at-a-time: inside emitBatch the values fn emits are collected
	// and handed on a batch at a time.
	batchTo[Out]
	buf      []Record[Out]
	batching bool
}

func (n *flatMapNode[In, Out]) canBatch() bool { return canBatch(n.next) }

func (n *flatMapNode[In, Out]) emitValue(v Out) error {
	n.cnt.out++
	if n.batching {
		n.buf = append(n.buf, Record[Out]{Time: n.at, Value: v})
		if len(n.buf) < cap(n.buf) {
			return nil
		}
		err := n.flushBuf()
		n.t.cur = n.id
		return err
	}
	err := n.next.Emit(Record[Out]{Time: n.at, Value: v})
	n.t.cur = n.id
	return err
}

func (n *flatMapNode[In, Out]) flushBuf() error {
	if len(n.buf) == 0 {
		return nil
	}
	err := n.nextB.emitBatch(n.buf)
	n.buf = n.buf[:0]
	return err
}

func (n *flatMapNode[In, Out]) Emit(r Record[In]) error {
	n.cnt.in++
	n.t.cur = n.id
	n.at = r.Time
	return opErr(n.name, n.fn(r.Value, n.emit))
}

func (n *flatMapNode[In, Out]) emitBatch(rs []Record[In]) error {
	if !n.batched(n.next) {
		for i := range rs {
			if err := n.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if n.buf == nil {
		n.buf = make([]Record[Out], 0, batchLen[Out]())
	}
	n.cnt.in += int64(len(rs))
	n.batching = true
	defer func() { n.batching = false }()
	for i := range rs {
		n.t.cur = n.id
		n.at = rs[i].Time
		if err := n.fn(rs[i].Value, n.emit); err != nil {
			n.buf = n.buf[:0]
			return opErr(n.name, err)
		}
	}
	return n.flushBuf()
}

func (n *flatMapNode[In, Out]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		n.cnt.wm = c.wm
	}
	return n.next.ctrl(c)
}

// Apply adds an operator to s. newOp is called once per parallel instance of
// s when the pipeline runs, so each instance owns its state. The operator
// runs chained to its input (no exchange); it may implement [Opener],
// [Closer], [TimerHandler], [Snapshotter] and [KeyGroupSnapshotter], and emit to side outputs
// obtained with [Output] (consumed through [SideOutput]).
//
// Its default name is its input's name and ".operator" (see [Name]).
func Apply[In, Out any](s Stream[In], newOp func() Operator[In, Out], opts ...OperatorOption) Stream[Out] {
	in := s.must()
	name := plainName(s, "operator", opts)
	o := newOutlet[Out](in.p, name, in.parallelism)
	o.sidesOK = true
	if newOp == nil {
		in.p.failf("%s: nil operator constructor", name)
	}
	in.consume(func(b *builder, inst int) (inlet[In], error) {
		next, err := o.build(b, inst)
		if err != nil {
			return nil, err
		}
		sides, sideCtrls, err := o.buildSides(b, inst)
		if err != nil {
			return nil, err
		}
		op := newOp()
		if op == nil {
			return nil, &OperatorError{Op: name, Err: fmt.Errorf("%w: constructor returned nil", ErrInvalid)}
		}
		n := &opNode[In, Out]{op: op, name: name, t: b.t, id: b.t.node(name), sideCtrls: sideCtrls}
		n.cnt = b.t.newCounts(b.rt, name, inst)
		n.out = &countingEmitter[Out]{next: next, cnt: n.cnt, t: b.t, id: n.id}
		n.next = next
		n.c = &Context{name: name, instance: inst, parallelism: in.parallelism, maxPar: in.p.cfg.maxParallelism, wm: MinTime, t: b.t, cnt: n.cnt, logger: loggerOf(in.p), sides: sides, ctx: b.rt.ctx}
		n.c.outs = o.sideEmitters(sides, b.t, n.id)
		n.drain, _ = op.(Drainer[Out])
		if bp, ok := op.(BatchProcessor[In, Out]); ok {
			n.batch, n.sides = bp, sides
		}
		if th, ok := op.(TimerHandler[Out]); ok {
			n.c.onTimer = func(now time.Time) error {
				b.t.cur = n.id
				return opErr(name, th.OnTimer(now, n.out))
			}
		}
		snap, _ := op.(Snapshotter)
		kg, _ := op.(KeyGroupSnapshotter)
		if snap != nil || kg != nil {
			n.st = b.registerState(name, n.id, inst, in.parallelism, snap, kg, &n.c.wm)
			n.co, n.ctx = b.rt.co, b.rt.ctx
			if _, ok := op.(replicatedStater); ok && n.st != nil {
				n.st.replicated = true
			}
		}
		if l, ok := op.(CheckpointListener); ok && b.rt.co != nil {
			b.rt.co.listeners = append(b.rt.co.listeners, l)
		}
		if op, ok := op.(Opener); ok {
			b.t.addOpener(n.id, name, func() error { return op.Open(n.c) })
		}
		if c, ok := op.(Closer); ok {
			b.t.addCloser(name, c.Close)
		}
		return n, nil
	})
	return Stream[Out]{o: o}
}

type countingEmitter[T any] struct {
	next inlet[T]
	cnt  *counts
	// t and id are the operator's task and node: once the chain behind
	// has returned, the operator's own code goes on, so t.cur is set back
	// to id and a panic there is the operator's.
	t  *task
	id int
	// a watermark the operator has passed but not yet forwarded (see
	// opNode.emitWatermarked): it goes first, before the next record.
	pend    Time
	pending bool
	to      batchTo[T] // for emitBatch
}

func (e *countingEmitter[T]) Emit(r Record[T]) error {
	if e.pending {
		if err := e.forward(); err != nil {
			return err
		}
	}
	e.cnt.out++
	err := e.next.Emit(r)
	e.t.cur = e.id
	return err
}

// emitBatch is Emit of every record of rs, handing the chain behind the
// whole batch when it takes batches.
func (e *countingEmitter[T]) emitBatch(rs []Record[T]) error {
	if e.pending {
		if err := e.forward(); err != nil {
			return err
		}
	}
	e.cnt.out += int64(len(rs))
	var err error
	if e.to.batched(e.next) {
		err = e.to.nextB.emitBatch(rs)
	} else {
		for i := range rs {
			if err = e.next.Emit(rs[i]); err != nil {
				break
			}
		}
	}
	e.t.cur = e.id
	return err
}

// forward sends the pending watermark on.
func (e *countingEmitter[T]) forward() error {
	e.pending = false
	err := e.next.ctrl(control{kind: ctrlWatermark, wm: e.pend})
	e.t.cur = e.id
	return err
}

type opNode[In, Out any] struct {
	op        Operator[In, Out]
	name      string
	out       *countingEmitter[Out]
	next      inlet[Out]
	sideCtrls []func(control) error
	c         *Context
	cnt       *counts
	t         *task
	id        int
	drain     Drainer[Out]
	// batch is the operator as a BatchProcessor, nil if it is not one;
	// sides are the heads of its side outputs' chains.
	batch BatchProcessor[In, Out]
	sides map[any]any
	st    *stateful // nil unless checkpointing a Snapshotter
	co    *coordinator
	ctx   context.Context
}

func (n *opNode[In, Out]) Emit(r Record[In]) error {
	n.cnt.in++
	n.t.cur = n.id
	return opErr(n.name, n.op.ProcessRecord(r, n.out))
}

// canBatch is false unless the operator is a BatchProcessor and the chains
// behind it, main and side outputs, take batches too: a user operator gets
// each record right after the functions before it ran for it.
func (n *opNode[In, Out]) canBatch() bool {
	return n.batch != nil && canBatch(n.next) && sidesCanBatch(n.sides)
}

func (n *opNode[In, Out]) emitBatch(rs []Record[In]) error {
	n.cnt.in += int64(len(rs))
	if n.batch != nil {
		n.t.cur = n.id
		return opErr(n.name, n.batch.ProcessBatch(rs, n.out))
	}
	op, out := n.op, n.out
	for i := range rs {
		n.t.cur = n.id
		if err := op.ProcessRecord(rs[i], out); err != nil {
			return opErr(n.name, err)
		}
	}
	return nil
}

// watermarkDue is implemented by the runtime's own operators whose
// ProcessWatermark(w) does nothing while w is below a time they keep up to
// date (the keyed process operator: its earliest event-time timer) except
// raise a watermark they keep: a watermark which triggers nothing then
// costs a comparison, and the runtime raises the kept watermark (passed)
// itself. Nil pointers mean every watermark needs the call. The pointers
// stay valid for the operator's life.
type watermarkDue interface {
	watermarkDue() (due, passed *Time)
}

// WatermarkDue is an optional interface of an [Operator] whose
// ProcessWatermark(w) does nothing while w is below *due except raise
// *passed to w, as the runtime's keyed process operator does below its
// earliest timer (the window operators: below their earliest window's due
// time). The runtime may then skip such calls, raising *passed itself and
// forwarding w lazily (before the operator's next output, and at the end
// of the batch of input it is handling); it reads both on every watermark,
// so the operator keeps them current. The pointers stay valid for the
// operator's life; nil pointers mean every watermark needs the call.
type WatermarkDue interface {
	WatermarkDue() (due, passed *Time)
}

// emitWatermarked takes a run of records with the watermarks between them
// (see watermarkedInlet). For an operator with a watermarkDue the watermarks
// that fire nothing are only recorded (the operator's Context sees each),
// and forwarded lazily: before the operator's next output and when the run
// is done, which is what downstream would see of them anyway, since nothing
// came in between. Any other operator gets the run record by record with
// each watermark as by ctrl.
func (n *opNode[In, Out]) emitWatermarked(rs []Record[In], marks []mark) error {
	var due, passed *Time
	if len(n.sideCtrls) == 0 {
		switch wd := n.op.(type) {
		case watermarkDue:
			due, passed = wd.watermarkDue()
		case WatermarkDue:
			due, passed = wd.WatermarkDue()
		}
	}
	if due == nil {
		return splitMarked[In](n, rs, marks)
	}
	op, out := n.op, n.out
	n.cnt.in += int64(len(rs))
	mi := 0
	for i := range rs {
		for ; mi < len(marks) && marks[mi].at <= i; mi++ {
			if w := marks[mi].wm; !n.riseWatermark(w, due, passed) {
				if err := n.lazyWatermark(w, due, passed); err != nil {
					return err
				}
			}
		}
		n.t.cur = n.id
		if err := op.ProcessRecord(rs[i], out); err != nil {
			return opErr(n.name, err)
		}
	}
	for ; mi < len(marks); mi++ {
		if err := n.lazyWatermark(marks[mi].wm, due, passed); err != nil {
			return err
		}
	}
	n.cnt.wm = n.c.wm
	if out.pending {
		return out.forward()
	}
	return nil
}

// riseWatermark takes watermark w when it rises and fires nothing (it is
// below *due), the common case, small enough to be inlined in
// emitWatermarked's loop: the operator's watermark and *passed rise and w
// waits to be forwarded. It reports false, changing nothing, for any
// other watermark.
func (n *opNode[In, Out]) riseWatermark(w Time, due, passed *Time) bool {
	if w <= n.c.wm || w >= *due {
		return false
	}
	n.c.wm = w
	if w > *passed {
		*passed = w
	}
	n.out.pend, n.out.pending = w, true
	return true
}

// lazyWatermark advances the operator to watermark w, calling
// ProcessWatermark only when it is due, and leaves w to be forwarded.
func (n *opNode[In, Out]) lazyWatermark(w Time, due, passed *Time) error {
	if n.riseWatermark(w, due, passed) || w <= n.c.wm {
		return nil
	}
	n.c.wm = w
	if err := n.dueWatermark(w); err != nil {
		return err
	}
	n.out.pend, n.out.pending = w, true
	return nil
}

// dueWatermark calls ProcessWatermark(w) for lazyWatermark.
func (n *opNode[In, Out]) dueWatermark(w Time) error {
	n.cnt.wm = w
	n.t.cur = n.id
	return opErr(n.name, n.op.ProcessWatermark(w, n.out))
}

func (n *opNode[In, Out]) ctrl(c control) error {
	if c.kind == ctrlWatermark {
		if c.wm <= n.c.wm {
			return nil
		}
		n.c.wm = c.wm
		n.cnt.wm = c.wm
		n.t.cur = n.id
		if err := n.op.ProcessWatermark(c.wm, n.out); err != nil {
			return opErr(n.name, err)
		}
	}
	if n.drain != nil && (c.kind == ctrlFlush || c.kind == ctrlBarrier || c.kind == ctrlIdle || c.kind == ctrlEnd) {
		n.t.cur = n.id
		if err := n.drain.Drain(n.out); err != nil {
			return opErr(n.name, err)
		}
	}
	if n.st != nil && (c.kind == ctrlBarrier || c.kind == ctrlEnd) {
		id := c.id
		if c.kind == ctrlEnd {
			id = finalID
		}
		if err := n.co.sendState(n.ctx, n.name, n.st, id, false); err != nil {
			return err
		}
	}
	if err := n.next.ctrl(c); err != nil {
		return err
	}
	for _, sc := range n.sideCtrls {
		if err := sc(c); err != nil {
			return err
		}
	}
	return nil
}

// ProcessFunc handles one record of a [Process] operator. It emits results
// with out, reads the watermark and clock from ctx, and returns
// [Reject](reason) to send the record to the dead-letter output instead of
// failing the run. Any other error fails the run.
type ProcessFunc[In, Out any] func(ctx *Context, r Record[In], out Emitter[Out]) error

// Processed is the output of [Process]: the main stream, and the dead-letter
// stream of the records it rejected.
type Processed[In, Out any] struct {
	Stream[Out]
	dead *OutputTag[DeadLetter[In]]
}

// DeadLetters returns the records the operator rejected, with the reasons.
// If nothing consumes it, a rejected record fails the run instead.
func (p Processed[In, Out]) DeadLetters() Stream[DeadLetter[In]] {
	return SideOutput(p.Stream, p.dead)
}

// Process adds a record-at-a-time operator with access to the record's time,
// the current watermark and a dead-letter output. Its default name is its
// input's name and ".process" (see [Name]).
func Process[In, Out any](s Stream[In], fn ProcessFunc[In, Out], opts ...OperatorOption) Processed[In, Out] {
	dead := NewOutputTag[DeadLetter[In]]("dead-letters")
	cfg := Configure[OperatorOption, struct{}]("process", nil, opts)
	if err := cfg.Err(); err != nil {
		s.must().p.fail(err)
	}
	out := Apply(s, func() Operator[In, Out] { return &processOp[In, Out]{fn: fn, dead: dead} }, cfg.As("process"))
	if fn == nil {
		s.must().p.failf("%s: nil function", out.Name())
	}
	return Processed[In, Out]{Stream: out, dead: dead}
}

type processOp[In, Out any] struct {
	fn     ProcessFunc[In, Out]
	dead   *OutputTag[DeadLetter[In]]
	c      *Context
	deadTo Emitter[DeadLetter[In]]
}

func (p *processOp[In, Out]) Open(c *Context) error {
	p.c = c
	p.deadTo = Output(c, p.dead)
	return nil
}

func (p *processOp[In, Out]) ProcessRecord(r Record[In], out Emitter[Out]) error {
	err := p.fn(p.c, r, out)
	if err == nil {
		return nil
	}
	var rej *RejectError
	if !errors.As(err, &rej) {
		return err
	}
	p.c.CountError(1)
	if !Connected(p.c, p.dead) {
		return fmt.Errorf("%w: rejected record at %v and no dead-letter output: %w", ErrNotConnected, r.Time, rej.Reason)
	}
	return p.deadTo.Emit(Record[DeadLetter[In]]{Time: r.Time, Value: DeadLetter[In]{Record: r, Operator: p.c.name, Err: rej.Reason}})
}

func (p *processOp[In, Out]) ProcessWatermark(Time, Emitter[Out]) error { return nil }

// To sends s into sink. The sink runs as a single instance: a parallel s is
// merged into it through an exchange named after the sink with ".merge".
// The sink's default name is its input's name and ".sink" (see [Name]).
func To[T any](s Stream[T], sink Sink[T], opts ...SinkOption) {
	in := s.must()
	var cfg sinkConfig
	name := in.p.opName(in.name, Configure("sink", &cfg, opts))
	if sink == nil {
		in.p.failf("%s: nil sink", name)
		return
	}
	if r := cfg.retry; r != nil && (r.Attempts < 1 || r.Initial < 0 || r.Max < 0) {
		in.p.failf("%s: retry needs Attempts >= 1 and non-negative waits", name)
	}
	in.p.claim(sink, name)
	if in.parallelism > 1 {
		s = exchange(s, "merge", 1, nil, Name(name+".merge"))
		in = s.o
	}
	in.consume(func(b *builder, inst int) (inlet[T], error) {
		n := &sinkNode[T]{sink: sink, name: name, ctx: b.rt.ctx, t: b.t, id: b.t.node(name), retry: cfg.retry}
		n.cnt = b.t.newCounts(b.rt, name, 0)
		n.fn, _ = sink.(SinkFunc[T])
		n.batch, _ = sink.(BatchWriter[T])
		n.wms, _ = sink.(WatermarkSink)
		n.sy, _ = sink.(Syncer)
		n.fin, _ = sink.(Finisher)
		n.cm, _ = sink.(Committer)
		if co := b.rt.co; co != nil {
			snap, _ := sink.(Snapshotter)
			n.st = b.registerState(name, n.id, 0, 1, snap, nil, &n.cnt.wm)
			n.co = co
			co.nSinks++
			if n.cm != nil {
				co.listeners = append(co.listeners, committerListener{n.cm, name})
			}
			if l, ok := sink.(CheckpointListener); ok {
				co.listeners = append(co.listeners, l)
			}
		}
		if op, ok := sink.(Opener); ok {
			c := &Context{name: name, parallelism: 1, maxPar: in.p.cfg.maxParallelism, wm: MinTime, t: b.t, cnt: n.cnt, logger: loggerOf(in.p), ctx: b.rt.ctx}
			b.t.addOpener(n.id, name, func() error { return op.Open(c) })
		}
		if n.cm != nil {
			if co := b.rt.co; co != nil && co.restoreID != 0 {
				// Commit what the restored checkpoint pre-committed (it may
				// have been stored by a run that died before committing).
				id, ctx := co.restoreID, b.rt.ctx
				b.t.addOpener(n.id, name, func() error { return n.cm.Commit(ctx, id) })
			}
			b.rt.aborters = append(b.rt.aborters, func(ctx context.Context) error { return opErr(name, n.cm.Abort(ctx)) })
		}
		if c, ok := sink.(Closer); ok {
			b.t.addCloser(name, c.Close)
		}
		return n, nil
	})
}

// SinkOption configures [To]: [Name] and [RetryWrites] (see
// [OperatorConfig] for how option types relate).
type SinkOption func(*OperatorConfig)

type sinkConfig struct {
	retry *Retry
}

// Retry is how a sink's failed writes are retried (see [RetryWrites]).
type Retry struct {
	// Attempts is the number of tries in all, the first included (>= 1).
	Attempts int
	// Initial is the wait before the first retry; each later wait doubles,
	// up to Max.
	Initial, Max time.Duration
	// Retryable says whether an error is transient. Nil means every error
	// except the run's cancellation.
	Retryable func(error) bool
}

// RetryWrites makes the sink retry a failed Write (and Flush) with
// exponential backoff, waiting on the pipeline's clock, before the error
// fails the run. The record is never skipped: after the last attempt the run
// fails with the sink's name, the attempts made and the last error, and a
// restart from a checkpoint replays it.
func RetryWrites(r Retry) SinkOption {
	return OptionFor[SinkOption](func(c *sinkConfig) { c.retry = &r })
}

type sinkNode[T any] struct {
	sink  Sink[T]
	fn    SinkFunc[T]    // sink itself when it is a SinkFunc: one call less per record
	batch BatchWriter[T] // sink itself when it writes batches
	one   [1]Record[T]   // the batch of one of Emit to a SinkBatch
	wms   WatermarkSink
	sy    Syncer
	fin   Finisher
	cm    Committer
	name  string
	ctx   context.Context
	cnt   *counts
	t     *task
	id    int
	st    *stateful
	co    *coordinator
	retry *Retry
}

func (n *sinkNode[T]) Emit(r Record[T]) error {
	if n.batch != nil {
		n.one[0] = r
		err := n.writeBatch(n.one[:])
		var zero Record[T]
		n.one[0] = zero
		return err
	}
	n.cnt.in++
	n.t.cur = n.id
	var err error
	if n.fn != nil {
		err = n.fn(n.ctx, r)
	} else {
		err = n.sink.Write(n.ctx, r)
	}
	if err != nil && n.retry != nil {
		err = n.retrying(err, func() error { return n.sink.Write(n.ctx, r) })
	}
	if err != nil {
		return opErr(n.name, err)
	}
	return nil
}

func (n *sinkNode[T]) canBatch() bool { return true }

func (n *sinkNode[T]) emitBatch(rs []Record[T]) error {
	if n.batch != nil {
		return n.writeBatch(rs)
	}
	if fn := n.fn; fn != nil && n.retry == nil {
		n.cnt.in += int64(len(rs))
		n.t.cur = n.id
		ctx := n.ctx
		for i := range rs {
			if err := fn(ctx, rs[i]); err != nil {
				return opErr(n.name, err)
			}
		}
		return nil
	}
	for i := range rs {
		if err := n.Emit(rs[i]); err != nil {
			return err
		}
	}
	return nil
}

// sync syncs a buffering sink, with retries if configured.
func (n *sinkNode[T]) sync() error {
	err := n.sy.Sync(n.ctx)
	if err != nil && n.retry != nil {
		err = n.retrying(err, func() error { return n.sy.Sync(n.ctx) })
	}
	return opErr(n.name, err)
}

// retrying retries op after it failed with err, as n.retry says.
func (n *sinkNode[T]) retrying(err error, op func() error) error {
	rt := n.retry
	wait := rt.Initial
	for attempt := 2; attempt <= rt.Attempts; attempt++ {
		if n.ctx.Err() != nil || (rt.Retryable != nil && !rt.Retryable(err)) {
			return err
		}
		n.cnt.errs++
		if wait > 0 {
			fired := make(chan struct{})
			stop := n.t.clock.AfterFunc(wait, func() { close(fired) })
			select {
			case <-fired:
			case <-n.ctx.Done():
				stop()
				return n.ctx.Err()
			}
		}
		if err = op(); err == nil {
			return nil
		}
		if wait *= 2; rt.Max > 0 && wait > rt.Max {
			wait = rt.Max
		}
	}
	return fmt.Errorf("after %d attempts: %w", max(rt.Attempts, 1), err)
}

func (n *sinkNode[T]) ctrl(c control) error {
	n.t.cur = n.id
	switch c.kind {
	case ctrlWatermark:
		n.cnt.wm = c.wm
		if n.wms != nil {
			return opErr(n.name, n.wms.WriteWatermark(n.ctx, c.wm))
		}
	case ctrlEnd:
		if n.fin != nil {
			if err := n.fin.Finish(n.ctx); err != nil {
				return opErr(n.name, err)
			}
		}
		if n.co == nil {
			if n.cm != nil { // no checkpoints: commit everything at the end
				if err := n.cm.PreCommit(n.ctx, 0); err != nil {
					return opErr(n.name, err)
				}
				return opErr(n.name, n.cm.Commit(n.ctx, 0))
			}
			if n.sy != nil {
				return n.sync()
			}
			return nil
		}
		// The end is the final checkpoint's barrier.
		return n.barrier(n.co.finalCheckpointID(), finalID)
	case ctrlBarrier:
		if n.co == nil {
			return nil
		}
		return n.barrier(c.id, c.id)
	}
	return nil
}

// barrier pre-commits (or syncs) everything before checkpoint id's barrier
// and acknowledges it with the sink's state, as part msgID.
func (n *sinkNode[T]) barrier(id, msgID int64) error {
	switch {
	case n.cm != nil:
		if err := n.cm.PreCommit(n.ctx, id); err != nil {
			return opErr(n.name, err)
		}
	case n.sy != nil:
		if err := n.sync(); err != nil {
			return err
		}
	}
	return n.co.sendState(n.ctx, n.name, n.st, msgID, true)
}

// committerListener commits a two-phase-commit sink when a checkpoint is
// complete.
type committerListener struct {
	c    Committer
	name string
}

func (l committerListener) CheckpointComplete(ctx context.Context, id int64) error {
	return opErr(l.name, l.c.Commit(ctx, id))
}
