package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
)

// SourceOption configures [From].
type SourceOption[T any] interface{ applySource(*sourceConfig[T]) }

type sourceConfig[T any] struct {
	name string
	wms  WatermarkStrategy[T]
	ts   func(T) time.Time
}

type sourceOptionFunc[T any] func(*sourceConfig[T])

func (f sourceOptionFunc[T]) applySource(c *sourceConfig[T]) { f(c) }

// WithWatermarks sets how the source's watermarks are generated from the
// records it emits (by default only the source's own EmitWatermark calls and
// the end-of-input watermark).
func WithWatermarks[T any](s WatermarkStrategy[T]) SourceOption[T] {
	return sourceOptionFunc[T](func(c *sourceConfig[T]) { c.wms = s })
}

// WithTimestamps sets each record's event time from its value, overriding
// the time the source gave it.
func WithTimestamps[T any](fn func(T) time.Time) SourceOption[T] {
	return sourceOptionFunc[T](func(c *sourceConfig[T]) { c.ts = fn })
}

// SourceName names the source (default "source").
func SourceName[T any](name string) SourceOption[T] {
	return sourceOptionFunc[T](func(c *sourceConfig[T]) { c.name = name })
}

// From adds a source to the pipeline and returns its stream. The source runs
// as one instance.
func From[T any](p *Pipeline, src Source[T], opts ...SourceOption[T]) Stream[T] {
	cfg := sourceConfig[T]{name: "source"}
	for _, o := range opts {
		if o != nil {
			o.applySource(&cfg)
		}
	}
	name := p.uniqueName(cfg.name)
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
		so := &sourceOut[T]{next: next, t: b.t, wm: MinTime, ts: cfg.ts}
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
			so.state = b.registerState(name, 0, 1, pairSnapshotter{genSnap, srcSnap}, nil, &so.wm)
			if l, ok := src.(CheckpointListener); ok {
				co.listeners = append(co.listeners, l)
			}
		}
		if op, ok := src.(Opener); ok {
			ctx := &Context{name: name, parallelism: 1, maxPar: b.rt.p.cfg.maxParallelism, t: b.t, cnt: so.cnt, logger: loggerOf(b.rt.p), wm: MinTime, ctx: b.rt.ctx}
			b.t.openers = append(b.t.openers, func() error { return opErr(name, op.Open(ctx)) })
		}
		if c, ok := src.(Closer); ok {
			b.t.closers = append(b.t.closers, func() error { return opErr(name, c.Close()) })
		}
		b.t.body = func(ctx context.Context) error {
			b.t.cur = so.id
			if err := src.Run(ctx, so); err != nil {
				return opErr(name, err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return so.finish()
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

	// checkpoints (nil without)
	co          *coordinator
	pending     *atomic.Int64
	lastBarrier int64
	state       *stateful
	ctx         context.Context
	name        string
}

func (s *sourceOut[T]) Emit(r Record[T]) error {
	if s.slow {
		return s.emitSlow(r)
	}
	if err := s.next.Emit(r); err != nil {
		return err
	}
	if s.since++; s.since >= 4096 {
		return s.housekeep()
	}
	return nil
}

// emitValues emits values at time 0 in chunks, checking ctx between them:
// the built-in slice source's fast path, one call per record less.
func (s *sourceOut[T]) emitValues(ctx context.Context, values []T) error {
	done := ctx.Done()
	for len(values) > 0 {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		chunk := values[:min(len(values), 1024)]
		values = values[len(chunk):]
		if s.slow {
			for _, v := range chunk {
				if err := s.emitSlow(Record[T]{Value: v}); err != nil {
					return err
				}
			}
			continue
		}
		next := s.next
		for _, v := range chunk {
			if err := next.Emit(Record[T]{Value: v}); err != nil {
				return err
			}
		}
		s.since += len(chunk)
		if s.since >= 4096 {
			if err := s.housekeep(); err != nil {
				return err
			}
		}
	}
	return nil
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
	if err := s.next.Emit(r); err != nil {
		return err
	}
	if s.gen != nil {
		if w := s.gen.OnRecord(r); w > s.wm {
			s.wm = w
			s.cnt.wm = w
			if err := s.next.ctrl(control{kind: ctrlWatermark, wm: w}); err != nil {
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
	s.cnt.out += int64(s.since)
	s.since = 0
	s.t.report()
	if s.pending != nil {
		if err := s.checkBarrier(); err != nil {
			return err
		}
	}
	if len(s.t.timers) > 0 && len(s.t.wake) > 0 {
		<-s.t.wake
		return s.t.fireTimers()
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
	return s.next.ctrl(control{kind: ctrlWatermark, wm: w})
}

func (s *sourceOut[T]) MarkIdle() error {
	if s.idle {
		return nil
	}
	s.idle = true
	s.slow = true
	return s.next.ctrl(control{kind: ctrlIdle})
}

func (s *sourceOut[T]) Flush() error {
	if err := s.next.ctrl(control{kind: ctrlFlush}); err != nil {
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
	st, err := s.state.snapshot()
	if err != nil {
		return opErr(s.name, err)
	}
	if err := s.co.send(s.ctx, stateMsg{id: id, key: s.state.key, state: st, has: true}); err != nil {
		return err
	}
	return s.next.ctrl(control{kind: ctrlBarrier, id: id})
}

func (s *sourceOut[T]) finish() error {
	if s.co != nil {
		s.co.ended.Store(true)
	}
	if err := s.EmitWatermark(MaxTime); err != nil {
		return err
	}
	s.cnt.out += int64(s.since)
	s.since = 0
	s.t.report()
	return s.next.ctrl(control{kind: ctrlEnd})
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
	return binary.AppendVarint(nil, int64(g.max)), nil
}

// Restore restores the largest time seen.
func (g *boundedGen[T]) Restore(b []byte) error {
	v, n := binary.Varint(b)
	if n <= 0 || n != len(b) {
		return fmt.Errorf("%w: watermark generator state", ErrCorruptCheckpoint)
	}
	g.max = Time(v)
	return nil
}

func (g *boundedGen[T]) OnRecord(r Record[T]) Time {
	if r.Time > g.max {
		g.max = r.Time
	}
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
func AssignWatermarks[T any](s Stream[T], strategy WatermarkStrategy[T]) Stream[T] {
	if strategy == nil {
		s.must().p.failf("watermarks: nil strategy")
	}
	return chained(s, "watermarks", func(b *builder, name string, inst int, next inlet[T], id int, cnt *counts) (inlet[T], error) {
		n := &assignNode[T]{next: next, wm: MinTime, cnt: cnt, t: b.t, id: id, name: name}
		n.cnt.oneToOne = true
		n.gen = strategy.NewGenerator()
		if b.rt.co != nil {
			snap, _ := n.gen.(Snapshotter)
			n.st, n.co, n.ctx = b.registerState(name, inst, s.must().parallelism, snap, nil, &n.wm), b.rt.co, b.rt.ctx
		}
		return n, nil
	})
}

type assignNode[T any] struct {
	next inlet[T]
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
			st, err := n.st.snapshot()
			if err != nil {
				return opErr(n.name, err)
			}
			if err := n.co.send(n.ctx, stateMsg{id: c.id, key: n.st.key, state: st, has: true}); err != nil {
				return err
			}
		}
	}
	return n.next.ctrl(c)
}
