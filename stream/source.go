package stream

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brook-streams/brook/stream/codec"
)

// SourceOption configures [From]: [Name], [WithWatermarks] and
// [WithTimestamps] (see [OperatorConfig] for how option types relate).
type SourceOption[T any] func(*OperatorConfig)

type sourceConfig[T any] struct {
	wms WatermarkStrategy[T]
	ts  func(T) time.Time
}

// WithWatermarks sets how the source's watermarks are generated from the
// records it emits (by default only the source's own EmitWatermark calls and
// the end-of-input watermark).
func WithWatermarks[T any](s WatermarkStrategy[T]) SourceOption[T] {
	return OptionFor[SourceOption[T]](func(c *sourceConfig[T]) { c.wms = s })
}

// WithTimestamps sets each record's event time from its value, overriding
// the time the source gave it.
func WithTimestamps[T any](fn func(T) time.Time) SourceOption[T] {
	return OptionFor[SourceOption[T]](func(c *sourceConfig[T]) { c.ts = fn })
}

// From adds a source to the pipeline and returns its stream. The source runs
// as one instance. Its default name is "source" (see [Name]).
func From[T any](p *Pipeline, src Source[T], opts ...SourceOption[T]) Stream[T] {
	var cfg sourceConfig[T]
	name := p.opName("", Configure("source", &cfg, opts))
	o := newOutlet[T](p, name, 1)
	if src == nil {
		p.failf("%s: nil source", name)
		return Stream[T]{o: o}
	}
	p.claim(src, name)
	p.sources = append(p.sources, func(b *builder) error {
		next, err := o.build(b, 0)
		if err != nil {
			return err
		}
		so := &sourceOut[T]{next: next, t: b.t, wm: MinTime, ts: cfg.ts, batch: batchSizeFor[T](b.rt.p)}
		so.id = b.t.node(name)
		so.cnt = b.t.newCounts(b.rt, name, 0)
		if cfg.wms != nil {
			so.gen = cfg.wms.NewGenerator()
		}
		so.slow = so.ts != nil || so.gen != nil
		if co := b.rt.co; co != nil {
			so.pending, so.co, so.ctx, so.name = &atomic.Int64{}, co, b.rt.ctx, name
			co.sources = append(co.sources, so.pending)
			genSnap, _ := so.gen.(Snapshotter)
			srcSnap, _ := src.(Snapshotter)
			so.state = b.registerState(name, so.id, 0, 1, pairSnapshotter{genSnap, srcSnap}, nil, &so.wm)
			if l, ok := src.(CheckpointListener); ok {
				co.listeners = append(co.listeners, l)
			}
			so.park = &parking{poke: make(chan struct{}, 1), finished: make(chan struct{})}
			co.pokes = append(co.pokes, so.park.poke)
			b.rt.agents = append(b.rt.agents, so.agent)
		}
		if op, ok := src.(Opener); ok {
			ctx := &Context{name: name, parallelism: 1, maxPar: b.rt.p.cfg.maxParallelism, t: b.t, cnt: so.cnt, logger: loggerOf(b.rt.p), wm: MinTime, ctx: b.rt.ctx}
			b.t.addOpener(so.id, name, func() error { return op.Open(ctx) })
		}
		if c, ok := src.(Closer); ok {
			b.t.addCloser(name, c.Close)
		}
		p := b.rt.p
		b.t.body = func(ctx context.Context) error {
			b.t.cur = so.id
			srcCtx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			p.addStopper(cancel)
			err := src.Run(srcCtx, so)
			if so.park != nil {
				so.park.mu.Lock()
				so.park.done = true
				so.park.mu.Unlock()
				close(so.park.finished)
			}
			if ctx.Err() != nil {
				return ctx.Err() // the run was cancelled or failed elsewhere
			}
			switch {
			case err == nil:
				return so.finish(false) // the end of the input
			case errors.Is(err, ErrStopped):
				p.requestStop(savepoint)
			case !errors.Is(context.Cause(srcCtx), ErrStopped):
				return opErr(name, err)
			}
			// Stopped: with a savepoint, or drained.
			return so.finish(p.mode() == savepoint && so.co != nil)
		}
		return nil
	})
	return Stream[T]{o: o}
}

// sourceOut is the SourceOutput of a running source: it stamps times, runs
// the watermark generator and pushes into the source's chain.
type sourceOut[T any] struct {
	next  inlet[T]
	gen   WatermarkGenerator[T]
	ts    func(T) time.Time
	wm    Time
	idle  bool
	slow  bool // ts, gen or idle set: take emitSlow
	t     *task
	id    int
	cnt   *counts
	since int

	// batch-at-a-time (the built-in sources)
	buf   []Record[T]
	nextB batchInlet[T]
	batch int  // the pipeline's exchange batch size
	depth int8 // 0: not decided yet, 1: the chain takes batches, -1: it does not
	// marked is next when it takes watermarks inside a batch (an exchange)
	marked markedInlet[T]
	marks  []mark
	// records emitted one at a time, collected for the exchange (see
	// startPending); pendMode is 0 until decided, 1 when collecting, -1 not
	pend     []Record[T]
	pendMode int8
	bounded  *boundedGen[T]

	// checkpoints (nil without)
	co          *coordinator
	pending     *atomic.Int64
	lastBarrier int64
	state       *stateful
	ctx         context.Context
	name        string
	park        *parking
}

// parking is a source's state in [SourceOutput.Await]: while it is parked,
// its agent goroutine may inject checkpoint barriers on its behalf.
type parking struct {
	mu       sync.Mutex
	parked   bool // the source waits in Await: the agent may use the output
	done     bool // the source's Run has returned
	poke     chan struct{}
	finished chan struct{}
}

// Await hands buffered records on and calls wait with the source parked.
func (s *sourceOut[T]) Await(wait func() error) error {
	if err := s.Flush(); err != nil {
		return err
	}
	if s.park == nil {
		return wait()
	}
	s.park.mu.Lock()
	s.park.parked = true
	s.park.mu.Unlock()
	select {
	case s.park.poke <- struct{}{}: // a barrier may have become pending since the Flush
	default:
	}
	err := wait()
	s.park.mu.Lock() // waits for a barrier being injected on our behalf
	s.park.parked = false
	s.park.mu.Unlock()
	return s.back(err) // the agent may have run the chain meanwhile
}

// agent is the goroutine that injects checkpoint barriers for the source
// while it is parked in Await. It ends when the source's Run has returned.
func (s *sourceOut[T]) agent(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.park.finished:
			return nil
		case <-s.park.poke:
			if err := s.injectParked(); err != nil {
				return err
			}
		}
	}
}

func (s *sourceOut[T]) injectParked() (err error) {
	s.park.mu.Lock()
	defer s.park.mu.Unlock()
	if !s.park.parked || s.park.done {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = &OperatorError{Op: s.name, Err: &PanicError{Value: r, Stack: debug.Stack()}}
		}
	}()
	return s.checkBarrier()
}

func (s *sourceOut[T]) Emit(r Record[T]) error {
	if s.pendMode >= 0 {
		if s.pendMode > 0 || s.startPending() {
			return s.emitPending(r)
		}
	}
	if s.slow {
		return s.emitSlow(r)
	}
	if err := s.back(s.next.Emit(r)); err != nil {
		return err
	}
	if s.since++; s.since >= 4096 {
		return s.housekeep()
	}
	return nil
}

// back marks the source as the running node again once the chain behind
// it has returned, and returns err: the source's own code goes on after
// each call into its output, so a panic there is the source's, not that
// of the operator that ran last.
func (s *sourceOut[T]) back(err error) error {
	s.t.cur = s.id
	return err
}

// startPending decides, at the first record, whether records emitted one
// at a time are collected into batches: only when the source feeds an
// exchange directly, which holds records back in its own batches anyway, so
// collecting them changes nothing downstream can see.
func (s *sourceOut[T]) startPending() bool {
	s.pendMode = -1
	m, ok := s.next.(markedInlet[T])
	if !ok {
		return false
	}
	s.pendMode, s.marked = 1, m
	s.pend = make([]Record[T], 0, max(1, min(batchLen[T](), s.batch)))
	s.bounded, _ = s.gen.(*boundedGen[T])
	return true
}

// emitPending is Emit into a batch for the exchange: timestamps assigned
// and watermarks generated per record, the watermarks kept as marks between
// the records, so the exchange sees exactly what it would have seen one
// record at a time.
func (s *sourceOut[T]) emitPending(r Record[T]) error {
	if s.ts != nil {
		r.Time = TimeOf(s.ts(r.Value))
	}
	if s.idle {
		s.idle = false
		s.slow = s.ts != nil || s.gen != nil
	}
	s.pend = append(s.pend, r)
	if s.gen != nil {
		var w Time
		if g := s.bounded; g != nil {
			if r.Time > g.max {
				g.max = r.Time
			}
			w = g.watermark()
		} else {
			w = s.gen.OnRecord(r)
		}
		if w > s.wm {
			s.wm = w
			s.cnt.wm = w
			s.marks = append(s.marks, mark{at: len(s.pend), wm: w})
		}
	}
	if len(s.pend) == cap(s.pend) {
		if err := s.back(s.flushPending()); err != nil {
			return err
		}
	}
	if s.since++; s.since >= 4096 {
		return s.housekeep()
	}
	return nil
}

// flushPending hands the records collected by emitPending to the exchange.
func (s *sourceOut[T]) flushPending() error {
	if len(s.pend) == 0 && len(s.marks) == 0 {
		return nil
	}
	err := s.marked.emitMarked(s.pend, s.marks)
	clear(s.pend) // drop references for the collector
	s.pend, s.marks = s.pend[:0], s.marks[:0]
	return err
}

// ctrlDown sends a control message down the chain, behind the records
// collected so far.
func (s *sourceOut[T]) ctrlDown(c control) error {
	if err := s.flushPending(); err != nil {
		return err
	}
	return s.next.ctrl(c)
}

// emitValues emits values at time 0 a batch at a time, checking ctx
// between batches: the built-in slice source's fast path.
func (s *sourceOut[T]) emitValues(ctx context.Context, values []T) error {
	buf := s.batchBuf()
	done := ctx.Done()
	if vi, ok := s.next.(valuesInlet[T]); ok && s.ts == nil && s.gen == nil && s.batching() {
		// No times to assign, no watermarks to generate: the chain's first
		// node makes the records as it reads the values.
		for len(values) > 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			if s.idle {
				s.idle, s.slow = false, false
			}
			chunk := values[:min(len(values), len(buf))]
			values = values[len(chunk):]
			if err := vi.emitValues(chunk); err != nil {
				return err
			}
			if s.since += len(chunk); s.since >= 4096 {
				if err := s.housekeep(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for len(values) > 0 {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		chunk := values[:min(len(values), len(buf))]
		values = values[len(chunk):]
		rs := buf[:len(chunk)]
		for i, v := range chunk {
			rs[i] = Record[T]{Value: v}
		}
		if err := s.emitBatch(rs); err != nil {
			return err
		}
	}
	return nil
}

// emitRecords emits records a batch at a time, checking ctx between
// batches: the built-in record and generator sources' fast path.
func (s *sourceOut[T]) emitRecords(ctx context.Context, recs []Record[T]) error {
	buf := s.batchBuf()
	done := ctx.Done()
	for len(recs) > 0 {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		rs := buf[:min(len(recs), len(buf))]
		copy(rs, recs)
		recs = recs[len(rs):]
		if err := s.emitBatch(rs); err != nil {
			return err
		}
	}
	return nil
}

// batching reports whether the chain takes batches (see batchInlet).
func (s *sourceOut[T]) batching() bool {
	if s.depth == 0 {
		s.depth = -1
		if canBatch(s.next) {
			s.depth = 1
		}
	}
	return s.depth > 0
}

func (s *sourceOut[T]) batchBuf() []Record[T] {
	if s.buf == nil {
		// No more than an exchange batch: a source never runs further ahead
		// of a stalled consumer than with one record at a time.
		s.buf = make([]Record[T], max(1, min(batchLen[T](), s.batch)))
		s.nextB = asBatch(s.next)
		s.marked, _ = s.next.(markedInlet[T])
	}
	return s.buf
}

// emitBatch emits rs (a batch the source owns) down the chain. Timestamps
// are assigned and watermarks generated per record, as by Emit: a batch is
// cut wherever the watermark rises, so every record reaches the chain behind
// exactly the watermark it would have had one at a time.
func (s *sourceOut[T]) emitBatch(rs []Record[T]) error {
	if !s.batching() {
		for i := range rs {
			if err := s.emitSlow(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if s.idle {
		s.idle = false
		s.slow = s.ts != nil || s.gen != nil
	}
	if s.ts != nil {
		for i := range rs {
			rs[i].Time = TimeOf(s.ts(rs[i].Value))
		}
	}
	switch g := s.gen.(type) {
	case nil:
		if err := s.nextB.emitBatch(rs); err != nil {
			return err
		}
	case *boundedGen[T]:
		// The built-in strategy, inlined: one comparison per record.
		if s.marked != nil {
			marks := s.marks[:0]
			for i := range rs {
				if rs[i].Time > g.max {
					g.max = rs[i].Time
				}
				if w := g.watermark(); w > s.wm {
					s.wm = w
					marks = append(marks, mark{at: i + 1, wm: w})
				}
			}
			s.marks = marks
			s.cnt.wm = s.wm
			if err := s.marked.emitMarked(rs, marks); err != nil {
				return err
			}
			break
		}
		start := 0
		for i := range rs {
			if rs[i].Time > g.max {
				g.max = rs[i].Time
			}
			w := g.watermark()
			if w <= s.wm {
				continue
			}
			if err := s.nextB.emitBatch(rs[start : i+1]); err != nil {
				return err
			}
			start = i + 1
			if err := s.raise(w); err != nil {
				return err
			}
		}
		if start < len(rs) {
			if err := s.nextB.emitBatch(rs[start:]); err != nil {
				return err
			}
		}
	default:
		if s.marked != nil {
			marks := s.marks[:0]
			for i := range rs {
				if w := g.OnRecord(rs[i]); w > s.wm {
					s.wm = w
					marks = append(marks, mark{at: i + 1, wm: w})
				}
			}
			s.marks = marks
			s.cnt.wm = s.wm
			if err := s.marked.emitMarked(rs, marks); err != nil {
				return err
			}
			break
		}
		start := 0
		for i := range rs {
			w := g.OnRecord(rs[i])
			if w <= s.wm {
				continue
			}
			if err := s.nextB.emitBatch(rs[start : i+1]); err != nil {
				return err
			}
			start = i + 1
			if err := s.raise(w); err != nil {
				return err
			}
		}
		if start < len(rs) {
			if err := s.nextB.emitBatch(rs[start:]); err != nil {
				return err
			}
		}
	}
	if s.since += len(rs); s.since >= 4096 {
		return s.housekeep()
	}
	return nil
}

// raise forwards the generated watermark w, above the current one.
func (s *sourceOut[T]) raise(w Time) error {
	s.wm = w
	s.cnt.wm = w
	return s.ctrlDown(control{kind: ctrlWatermark, wm: w})
}

// emitSlow is Emit with timestamps to assign, watermarks to generate or an
// idle mark to lift.
func (s *sourceOut[T]) emitSlow(r Record[T]) error {
	if s.ts != nil {
		r.Time = TimeOf(s.ts(r.Value))
	}
	if s.idle {
		s.idle = false
		s.slow = s.ts != nil || s.gen != nil
	}
	if err := s.back(s.next.Emit(r)); err != nil {
		return err
	}
	if s.gen != nil {
		if w := s.gen.OnRecord(r); w > s.wm {
			s.wm = w
			s.cnt.wm = w
			if err := s.back(s.ctrlDown(control{kind: ctrlWatermark, wm: w})); err != nil {
				return err
			}
		}
	}
	if s.since++; s.since >= 4096 {
		return s.housekeep()
	}
	return nil
}

func (s *sourceOut[T]) housekeep() error {
	if err := s.back(s.flushPending()); err != nil {
		return err
	}
	s.cnt.out += int64(s.since)
	s.since = 0
	s.t.report()
	if s.pending != nil {
		if err := s.back(s.checkBarrier()); err != nil {
			return err
		}
	}
	if len(s.t.timers) > 0 && len(s.t.wake) > 0 {
		<-s.t.wake
		return s.back(s.t.fireTimers())
	}
	return nil
}

func (s *sourceOut[T]) EmitWatermark(w Time) error {
	if w <= s.wm {
		return nil
	}
	if s.idle {
		s.idle = false
		s.slow = s.ts != nil || s.gen != nil
	}
	s.wm = w
	s.cnt.wm = w
	return s.back(s.ctrlDown(control{kind: ctrlWatermark, wm: w}))
}

func (s *sourceOut[T]) MarkIdle() error {
	if s.idle {
		return nil
	}
	s.idle = true
	s.slow = true
	return s.back(s.ctrlDown(control{kind: ctrlIdle}))
}

func (s *sourceOut[T]) Flush() error {
	if err := s.back(s.ctrlDown(control{kind: ctrlFlush})); err != nil {
		return err
	}
	return s.housekeep()
}

// checkBarrier injects a pending checkpoint barrier: the source's position
// (after the last record it emitted) and watermark state go to the
// coordinator, and the barrier goes downstream behind that record.
func (s *sourceOut[T]) checkBarrier() error {
	id := s.pending.Load()
	if id <= s.lastBarrier {
		return nil
	}
	s.lastBarrier = id
	if err := s.co.sendState(s.ctx, s.name, s.state, id, false); err != nil {
		return err
	}
	return s.ctrlDown(control{kind: ctrlBarrier, id: id})
}

// finish ends the source's stream: a barrier still pending goes first, then
// (unless the pipeline stops with a savepoint) the end-of-input watermark,
// the source's final state and the end.
func (s *sourceOut[T]) finish(stop bool) error {
	if s.co != nil {
		s.co.endSource()
		if err := s.checkBarrier(); err != nil {
			return err
		}
	}
	if !stop {
		if err := s.EmitWatermark(MaxTime); err != nil {
			return err
		}
	}
	s.cnt.out += int64(s.since)
	s.since = 0
	s.t.report()
	if s.co != nil {
		if err := s.co.sendState(s.ctx, s.name, s.state, finalID, false); err != nil {
			return err
		}
	}
	return s.ctrlDown(control{kind: ctrlEnd, stop: stop})
}

// WatermarkStrategy makes a WatermarkGenerator for each source instance.
type WatermarkStrategy[T any] interface {
	NewGenerator() WatermarkGenerator[T]
}

// WatermarkGenerator turns the records a source emits into watermarks.
// OnRecord is called after each record is emitted and returns the watermark
// that holds after it; the runtime forwards it when it advances.
type WatermarkGenerator[T any] interface {
	OnRecord(r Record[T]) Time
}

// WatermarkStrategyFunc adapts a constructor function to a WatermarkStrategy.
type WatermarkStrategyFunc[T any] func() WatermarkGenerator[T]

// NewGenerator calls f.
func (f WatermarkStrategyFunc[T]) NewGenerator() WatermarkGenerator[T] { return f() }

// BoundedOutOfOrderness is the watermark strategy for records that arrive at
// most d later than records with a larger time: after seeing records up to
// maxSeen the watermark is maxSeen - d - 1, so a record at maxSeen - d is
// still on time.
func BoundedOutOfOrderness[T any](d time.Duration) WatermarkStrategy[T] {
	if d < 0 {
		d = 0
	}
	return WatermarkStrategyFunc[T](func() WatermarkGenerator[T] {
		return &boundedGen[T]{bound: Time(d), max: MinTime}
	})
}

type boundedGen[T any] struct {
	bound Time
	max   Time
}

// Snapshot saves the largest time seen.
func (g *boundedGen[T]) Snapshot() ([]byte, error) {
	var e codec.Encoder
	e.Int(int64(g.max))
	return e.Data(), nil
}

// Restore restores the largest time seen.
func (g *boundedGen[T]) Restore(b []byte) error {
	d := codec.NewDecoder(b, "watermark generator state")
	v := d.Int()
	if err := d.Finish(); err != nil {
		return err
	}
	g.max = Time(v)
	return nil
}

func (g *boundedGen[T]) OnRecord(r Record[T]) Time {
	if r.Time > g.max {
		g.max = r.Time
	}
	return g.watermark()
}

func (g *boundedGen[T]) watermark() Time {
	if g.max == MinTime || g.max < MinTime+g.bound+1 {
		return MinTime
	}
	return g.max - g.bound - 1
}

// AssignWatermarks replaces the watermarks of s with ones generated from its
// records by strategy, at this point of the pipeline: records filtered out or
// rejected upstream (invalid input, say) then never move event time. Watermarks
// arriving from upstream are dropped, except the end of input (MaxTime).
// The generator's state is checkpointed with the pipeline.
func AssignWatermarks[T any](s Stream[T], strategy WatermarkStrategy[T], opts ...OperatorOption) Stream[T] {
	name := plainName(s, "watermarks", opts)
	if strategy == nil {
		s.must().p.failf("%s: nil watermark strategy", name)
	}
	return chained(s, name, func(b *builder, name string, inst int, next inlet[T], id int, cnt *counts) (inlet[T], error) {
		n := &assignNode[T]{next: next, wm: MinTime, cnt: cnt, t: b.t, id: id, name: name}
		n.cnt.oneToOne = true
		n.gen = strategy.NewGenerator()
		if b.rt.co != nil {
			snap, _ := n.gen.(Snapshotter)
			n.st, n.co, n.ctx = b.registerState(name, id, inst, s.must().parallelism, snap, nil, &n.wm), b.rt.co, b.rt.ctx
		}
		return n, nil
	})
}

type assignNode[T any] struct {
	next inlet[T]
	batchTo[T]
	gen  WatermarkGenerator[T]
	wm   Time
	cnt  *counts
	t    *task
	id   int
	name string
	st   *stateful
	co   *coordinator
	ctx  context.Context
}

func (n *assignNode[T]) Emit(r Record[T]) error {
	n.cnt.in++
	if err := n.next.Emit(r); err != nil {
		return err
	}
	n.t.cur = n.id
	if w := n.gen.OnRecord(r); w > n.wm {
		n.wm = w
		n.cnt.wm = w
		return n.next.ctrl(control{kind: ctrlWatermark, wm: w})
	}
	return nil
}

func (n *assignNode[T]) canBatch() bool { return canBatch(n.next) }

// emitBatch cuts rs wherever the generated watermark rises, as Emit would
// have placed it.
func (n *assignNode[T]) emitBatch(rs []Record[T]) error {
	if !n.batched(n.next) {
		for i := range rs {
			if err := n.Emit(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	n.cnt.in += int64(len(rs))
	n.t.cur = n.id
	start := 0
	for i := range rs {
		w := n.gen.OnRecord(rs[i])
		if w <= n.wm {
			continue
		}
		if err := n.nextB.emitBatch(rs[start : i+1]); err != nil {
			return err
		}
		start = i + 1
		n.t.cur = n.id
		n.wm = w
		n.cnt.wm = w
		if err := n.next.ctrl(control{kind: ctrlWatermark, wm: w}); err != nil {
			return err
		}
		n.t.cur = n.id
	}
	if start < len(rs) {
		return n.nextB.emitBatch(rs[start:])
	}
	return nil
}

func (n *assignNode[T]) ctrl(c control) error {
	switch c.kind {
	case ctrlWatermark:
		if c.wm != MaxTime || n.wm == MaxTime {
			return nil
		}
		n.wm = MaxTime
		n.cnt.wm = MaxTime
	case ctrlBarrier:
		if n.st != nil {
			if err := n.co.sendState(n.ctx, n.name, n.st, c.id, false); err != nil {
				return err
			}
		}
	case ctrlEnd:
		if n.st != nil {
			if err := n.co.sendState(n.ctx, n.name, n.st, finalID, false); err != nil {
				return err
			}
		}
	}
	return n.next.ctrl(c)
}
