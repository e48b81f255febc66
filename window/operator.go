package window

import (
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Windowed is the output of [Aggregate] and [Process]: the stream of window
// results, and the late output.
type Windowed[K comparable, T, Out any] struct {
	stream.Stream[Result[K, Out]]
	late *stream.OutputTag[LateRecord[T]]
}

// Results returns the stream of window results (the embedded Stream).
func (w Windowed[K, T, Out]) Results() stream.Stream[Result[K, Out]] { return w.Stream }

// Late returns the stream of late records: records whose windows had all
// closed when they arrived, with the windows they missed, at their own event
// time. Call it while building the pipeline; if nobody consumes it, late
// records are only counted (in the metrics hook's Late count).
func (w Windowed[K, T, Out]) Late() stream.Stream[LateRecord[T]] {
	return stream.SideOutput(w.Stream, w.late)
}

// Aggregate windows a keyed stream: the assigner places every record in its
// windows, agg folds each window's records of one key into one accumulator,
// and each firing emits a [Result] carrying the key, the window, agg's result
// and the kind of firing, at time End-1 and before the watermark that fired
// it travels on. Options add allowed lateness and early firings.
//
// The operator runs in the keyed stream's parallel instances, each owning the
// windows of its keys. Configuration mistakes (a non-positive size, a bad
// option) are returned by Run.
func Aggregate[K comparable, T, Acc, Out any](in stream.KeyedStream[K, T], a Assigner, agg Aggregator[T, Acc, Out], opts ...Option) Windowed[K, T, Out] {
	cfg := newConfig(opts)
	if agg == nil && cfg.err == nil {
		cfg.err = fmt.Errorf("%w: nil aggregator", ErrInvalid)
	}
	return build(in, a, cfg, func() *op[K, T, Acc, Out] {
		if agg == nil {
			return &op[K, T, Acc, Out]{} // Open reports cfg.err
		}
		return &op[K, T, Acc, Out]{
			agg:    agg,
			newAcc: agg.New,
			merge:  agg.Merge,
			result: func(_ K, _ Span, acc Acc) Out { return agg.Result(acc) },
		}
	})
}

// ProcessFunc computes the result of one firing of a [Process] window from
// all the records of the window for one key. It may reorder records but must
// not keep the slice, which the window goes on using.
type ProcessFunc[K comparable, T, Out any] func(key K, w Span, records []stream.Record[T]) Out

// Process is the full-buffer variant of [Aggregate], for what cannot be
// computed incrementally (medians, sorting, pattern checks): each window
// keeps the raw records of each key, and fn computes a result from them at
// every firing. Records are in arrival order, except that when session
// windows merge, the records of the earlier session come first. Prefer
// Aggregate: its windows hold one accumulator, not every record.
func Process[K comparable, T, Out any](in stream.KeyedStream[K, T], a Assigner, fn ProcessFunc[K, T, Out], opts ...Option) Windowed[K, T, Out] {
	cfg := newConfig(opts)
	if fn == nil && cfg.err == nil {
		cfg.err = fmt.Errorf("%w: nil process function", ErrInvalid)
	}
	return build(in, a, cfg, func() *op[K, T, []stream.Record[T], Out] {
		return &op[K, T, []stream.Record[T], Out]{
			newAcc: func() []stream.Record[T] { return nil },
			addRec: func(acc []stream.Record[T], r stream.Record[T]) []stream.Record[T] { return append(acc, r) },
			merge:  func(a, b []stream.Record[T]) []stream.Record[T] { return append(a, b...) },
			result: fn,
		}
	})
}

func newConfig(opts []Option) config {
	cfg := config{name: "window"}
	for _, o := range opts {
		if o == nil {
			cfg.err = fmt.Errorf("%w: nil option", ErrInvalid)
			continue
		}
		o.apply(&cfg)
	}
	return cfg
}

func build[K comparable, T, Acc, Out any](in stream.KeyedStream[K, T], a Assigner, cfg config, mk func() *op[K, T, Acc, Out]) Windowed[K, T, Out] {
	late := stream.NewOutputTag[LateRecord[T]]("late")
	if cfg.err == nil {
		cfg.err = a.validate()
	}
	if cfg.err == nil {
		switch {
		case in.Key == nil:
			cfg.err = fmt.Errorf("%w: keyed stream without a key function", ErrInvalid)
		case cfg.lateness != 0 && a.proc:
			cfg.err = fmt.Errorf("%w: %v: allowed lateness applies to event-time windows only", ErrInvalid, a)
		case cfg.lateness != 0 && a.kind == kindGlobal:
			cfg.err = fmt.Errorf("%w: %v: a global window is never late", ErrInvalid, a)
		}
	}
	s := stream.Apply(in.Stream, cfg.name, func() stream.Operator[T, Result[K, Out]] {
		o := mk()
		o.a, o.cfg, o.key, o.lateTag = a, cfg, in.Key, late
		o.init()
		return o
	})
	return Windowed[K, T, Out]{Stream: s, late: late}
}

// cell is the per-key state of one window: its accumulator, the records
// added since its last firing (for EarlyEvery), and whether it waits for an
// EarlyInterval firing.
type cell[Acc any] struct {
	acc   Acc
	n     int
	dirty bool
}

// pane is one tumbling or sliding window with the cells of all its keys, in
// the order the keys first appeared.
type pane[K comparable, Acc any] struct {
	sched // at: End-1 until it fires, then End-1+lateness; idx -1 once closed
	span  Span
	fired bool
	slots []slot[K, Acc]
	index map[K]int32
}

type slot[K comparable, Acc any] struct {
	cell[Acc]
	key K
}

// smallPane is the number of keys up to which a pane finds a key by
// scanning its slots, which beats a map lookup; beyond it, a map indexes them.
const smallPane = 12

func (p *pane[K, Acc]) find(k K) (int32, bool) {
	if p.index == nil {
		for i := range p.slots {
			if p.slots[i].key == k {
				return int32(i), true
			}
		}
		return -1, false
	}
	i, ok := p.index[k]
	return i, ok
}

func (p *pane[K, Acc]) insert(k K, acc Acc) int32 {
	i := int32(len(p.slots))
	p.slots = append(p.slots, slot[K, Acc]{key: k, cell: cell[Acc]{acc: acc}})
	switch {
	case p.index != nil:
		p.index[k] = i
	case len(p.slots) > smallPane:
		p.index = make(map[K]int32, 2*len(p.slots))
		for j := range p.slots {
			p.index[p.slots[j].key] = int32(j)
		}
	}
	return i
}

// session is one session window of one key.
type session[K comparable, Acc any] struct {
	cell[Acc]
	sched // at <= due, moved up lazily as the session grows; idx -1 once closed or merged away
	key   K
	span  Span
	due   stream.Time // End-1 until it fires, then End-1+lateness
	fired bool
}

// global is the global window of one key.
type global[K comparable, Acc any] struct {
	cell[Acc]
	key   K
	count int
}

var globalSpan = Span{Start: stream.MinTime, End: stream.MaxTime}

// dirtyRef points at a cell waiting for an EarlyInterval firing.
type dirtyRef[K comparable, Acc any] struct {
	p *pane[K, Acc]
	i int32
	s *session[K, Acc]
	g *global[K, Acc]
}

// op is the keyed window operator; one per parallel instance.
type op[K comparable, T, Acc, Out any] struct {
	a       Assigner
	cfg     config
	key     func(T) K
	agg     Aggregator[T, Acc, Out] // nil for Process
	addRec  func(Acc, stream.Record[T]) Acc
	newAcc  func() Acc
	merge   func(Acc, Acc) Acc
	result  func(K, Span, Acc) Out
	lateTag *stream.OutputTag[LateRecord[T]]

	ctx       *stream.Context
	clock     stream.Clock
	triggers  bool        // EarlyEvery or EarlyInterval is set
	nextDue   stream.Time // the earliest due time in the heap: watermarks below it do nothing
	lateOut   stream.Emitter[LateRecord[T]]
	needClock bool
	now       time.Time   // clock reading for the current record (needClock)
	wm        stream.Time // event-time watermark; processing time - 1 for processing-time windows
	seq       uint64

	panes   map[Span]*pane[K, Acc]
	last    *pane[K, Acc]   // tumbling: the pane of the previous record
	slot    []*pane[K, Acc] // sliding: the panes of every time in [slotLo, slotHi), while slotOK
	slotLo  stream.Time
	slotHi  stream.Time
	slotOK  bool
	ph      dueHeap[*pane[K, Acc]]
	keyHint int

	sessions map[K][]*session[K, Acc]
	sh       dueHeap[*session[K, Acc]]

	globals map[K]*global[K, Acc]
	gorder  []*global[K, Acc]

	dirty      []dirtyRef[K, Acc]
	earlyArmed bool
	earlyDue   time.Time
	procArmed  bool
	procAt     stream.Time
}

var _ stream.Operator[int, Result[int, int64]] = (*op[int, int, int64, int64])(nil)
var _ stream.Opener = (*op[int, int, int64, int64])(nil)
var _ stream.TimerHandler[Result[int, int64]] = (*op[int, int, int64, int64])(nil)
var _ stream.Snapshotter = (*op[int, int, int64, int64])(nil)

func (o *op[K, T, Acc, Out]) init() {
	o.wm = stream.MinTime
	o.nextDue = stream.MinTime
	o.triggers = o.cfg.earlyN > 0 || o.cfg.earlyD > 0
	o.panes = map[Span]*pane[K, Acc]{}
	o.sessions = map[K][]*session[K, Acc]{}
	o.globals = map[K]*global[K, Acc]{}
}

// Open checks the configuration and connects the late output.
func (o *op[K, T, Acc, Out]) Open(ctx *stream.Context) error {
	if o.cfg.err != nil {
		return fmt.Errorf("%w: %w", stream.ErrInvalid, o.cfg.err)
	}
	o.ctx = ctx
	o.clock = ctx.Clock()
	if stream.Connected(ctx, o.lateTag) {
		o.lateOut = stream.Output(ctx, o.lateTag)
	}
	o.needClock = o.a.proc || o.cfg.earlyD > 0
	o.rearm()
	return nil
}

// ProcessRecord adds r to its windows, or sends it to the late output.
func (o *op[K, T, Acc, Out]) ProcessRecord(r stream.Record[T], out stream.Emitter[Result[K, Out]]) error {
	t := r.Time
	if o.needClock {
		now := o.clock.Now()
		o.now = now
		// Fire what the clock has made due before placing the record, so the
		// outcome does not depend on when the timer callback gets through.
		if err := o.catchUp(now, out); err != nil {
			return err
		}
		if o.a.proc {
			t = stream.TimeOf(now)
			if t <= o.wm && o.wm < stream.MaxTime {
				t = o.wm + 1 // a clock that stepped back: never late in processing time
			}
		}
	}
	switch o.a.kind {
	case kindTumbling, kindSliding:
		return o.addFixed(r, t, out)
	case kindSession:
		return o.addSession(r, t, out)
	default:
		return o.addGlobal(r, out)
	}
}

// ProcessWatermark fires the windows the watermark w completes and drops the
// windows it closes. Processing-time windows only react to the end of input.
func (o *op[K, T, Acc, Out]) ProcessWatermark(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	if o.a.proc && w != stream.MaxTime {
		return nil
	}
	if w < o.nextDue {
		o.wm = w // nothing is due: the common case, one comparison
		return nil
	}
	return o.advance(w, out)
}

// OnTimer fires processing-time windows and EarlyInterval updates.
func (o *op[K, T, Acc, Out]) OnTimer(now time.Time, out stream.Emitter[Result[K, Out]]) error {
	if err := o.catchUp(now, out); err != nil {
		return err
	}
	if o.procArmed && stream.TimeOf(now) >= o.procAt {
		o.procArmed = false
	}
	o.armProc()
	return nil
}

// Close drops the state.
func (o *op[K, T, Acc, Out]) Close() error {
	o.init()
	o.last, o.ph, o.sh, o.gorder, o.dirty = nil, dueHeap[*pane[K, Acc]]{}, dueHeap[*session[K, Acc]]{}, nil, nil
	return nil
}

func (o *op[K, T, Acc, Out]) catchUp(now time.Time, out stream.Emitter[Result[K, Out]]) error {
	if o.a.proc {
		if w := stream.TimeOf(now) - 1; w > o.wm {
			if err := o.advance(w, out); err != nil {
				return err
			}
		}
	}
	if o.earlyArmed && !now.Before(o.earlyDue) {
		o.earlyArmed = false
		return o.fireDirty(out)
	}
	return nil
}

func (o *op[K, T, Acc, Out]) add(acc Acc, r stream.Record[T]) Acc {
	if o.agg != nil {
		return o.agg.Add(acc, r.Value)
	}
	return o.addRec(acc, r)
}

// refreshDue recomputes nextDue after the heap changed.
func (o *op[K, T, Acc, Out]) refreshDue() {
	o.nextDue = stream.MaxTime
	switch o.a.kind {
	case kindTumbling, kindSliding:
		if len(o.ph.items) > 0 {
			o.nextDue = o.ph.top()
		}
	case kindSession:
		if len(o.sh.items) > 0 {
			o.nextDue = o.sh.top()
		}
	default:
		o.nextDue = globalSpan.End - 1
	}
}

func (o *op[K, T, Acc, Out]) nextSeq() uint64 {
	o.seq++
	return o.seq
}

// fire emits the cell's result and resets its early-firing state.
func (o *op[K, T, Acc, Out]) fire(c *cell[Acc], key K, sp Span, f Firing, out stream.Emitter[Result[K, Out]]) error {
	c.n, c.dirty = 0, false
	return out.Emit(stream.Record[Result[K, Out]]{
		Time:  sp.End - 1,
		Value: Result[K, Out]{Key: key, Start: sp.Start, End: sp.End, Value: o.result(key, sp, c.acc), Firing: f},
	})
}

// after applies the triggers to a cell that has just received a record.
func (o *op[K, T, Acc, Out]) after(c *cell[Acc], key K, sp Span, ref dirtyRef[K, Acc], out stream.Emitter[Result[K, Out]]) error {
	if sp.End-1 <= o.wm {
		// The window has had its on-time firing and is not closed: a late
		// firing with the updated result.
		return o.fire(c, key, sp, Late, out)
	}
	if o.cfg.earlyN > 0 {
		if c.n++; c.n >= o.cfg.earlyN {
			return o.fire(c, key, sp, Early, out)
		}
	}
	if o.cfg.earlyD > 0 && !c.dirty {
		c.dirty = true
		o.dirty = append(o.dirty, ref)
		if !o.earlyArmed {
			o.earlyArmed = true
			o.earlyDue = o.now.Add(o.cfg.earlyD)
			o.ctx.RegisterTimer(o.earlyDue)
		}
	}
	return nil
}

// fireDirty emits an early result for every window waiting for one.
func (o *op[K, T, Acc, Out]) fireDirty(out stream.Emitter[Result[K, Out]]) error {
	refs := o.dirty
	o.dirty = nil
	defer func() {
		clear(refs)
		if o.dirty == nil {
			o.dirty = refs[:0]
		}
	}()
	for _, r := range refs {
		var err error
		switch {
		case r.p != nil:
			if r.p.idx < 0 || r.p.fired {
				continue
			}
			if s := &r.p.slots[r.i]; s.dirty {
				err = o.fire(&s.cell, s.key, r.p.span, Early, out)
			}
		case r.s != nil:
			if r.s.idx >= 0 && !r.s.fired && r.s.dirty {
				err = o.fire(&r.s.cell, r.s.key, r.s.span, Early, out)
			}
		case r.g != nil:
			if r.g.dirty && r.g.count > 0 {
				err = o.fire(&r.g.cell, r.g.key, globalSpan, Early, out)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (o *op[K, T, Acc, Out]) late(r stream.Record[T], missed []Span) error {
	if o.ctx != nil {
		o.ctx.CountLate(1)
	}
	if o.lateOut == nil {
		return nil
	}
	return o.lateOut.Emit(stream.Record[LateRecord[T]]{Time: r.Time, Value: LateRecord[T]{Record: r, Windows: missed}})
}

func (o *op[K, T, Acc, Out]) closed(end stream.Time) bool {
	return closeAt(end, o.cfg.lateness) <= o.wm
}

// advance moves the watermark to w, firing and closing what it completes.
func (o *op[K, T, Acc, Out]) advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	if w <= o.wm {
		return nil
	}
	o.wm = w
	var err error
	switch o.a.kind {
	case kindTumbling, kindSliding:
		err = o.advancePanes(w, out)
	case kindSession:
		err = o.advanceSessions(w, out)
	default:
		err = o.advanceGlobal(w, out)
	}
	o.refreshDue()
	return err
}

// rearm registers the timers a restored or freshly opened operator needs.
func (o *op[K, T, Acc, Out]) rearm() {
	if o.ctx == nil {
		return
	}
	o.procArmed = false
	o.armProc()
	if o.cfg.earlyD > 0 && len(o.dirty) > 0 && !o.earlyArmed {
		o.earlyArmed = true
		o.earlyDue = o.clock.Now().Add(o.cfg.earlyD)
		o.ctx.RegisterTimer(o.earlyDue)
	}
}

// armProc makes sure a timer wakes the operator when the earliest
// processing-time window is due: at due+1, when the clock's "watermark"
// (now - 1) reaches due.
func (o *op[K, T, Acc, Out]) armProc() {
	if !o.a.proc || o.ctx == nil {
		return
	}
	var due stream.Time
	switch o.a.kind {
	case kindTumbling, kindSliding:
		p, ok := o.ph.peek()
		if !ok {
			return
		}
		due = p.at
	case kindSession:
		s, ok := o.sh.peek()
		if !ok {
			return
		}
		due = s.at
	default:
		return
	}
	at := addSat(due, 1)
	if o.procArmed && o.procAt <= at {
		return
	}
	o.procArmed, o.procAt = true, at
	o.ctx.RegisterTimer(at.Std())
}

// Tumbling and sliding windows.

func (o *op[K, T, Acc, Out]) addFixed(r stream.Record[T], t stream.Time, out stream.Emitter[Result[K, Out]]) error {
	k := o.key(r.Value)
	if o.a.kind == kindTumbling {
		p := o.last
		if p == nil || t < p.span.Start || t >= p.span.End {
			sp := o.a.nth(t, 0)
			p = o.panes[sp]
			if p == nil {
				if o.closed(sp.End) {
					return o.late(r, []Span{sp})
				}
				p = o.newPane(sp)
			}
			o.last = p
		}
		return o.addToPane(p, k, r, out)
	}
	if o.slotOK && t >= o.slotLo && t < o.slotHi {
		for _, p := range o.slot {
			if err := o.addToPane(p, k, r, out); err != nil {
				return err
			}
		}
		return nil
	}
	n := o.a.count(t)
	o.slot, o.slotOK = o.slot[:0], false
	for i := n - 1; i >= 0; i-- {
		sp := o.a.nth(t, i)
		p := o.panes[sp]
		if p == nil {
			if o.closed(sp.End) {
				continue
			}
			p = o.newPane(sp)
		}
		o.slot = append(o.slot, p)
	}
	if len(o.slot) == 0 {
		return o.late(r, o.a.Windows(t))
	}
	// Every time in [lo, hi) belongs to the same windows: from the newest
	// start to the next one, and from the end of the window before the
	// oldest to the oldest's end. Cache them while all are open.
	if len(o.slot) == n {
		oldest, newest := o.slot[0].span, o.slot[n-1].span
		lo, hi := newest.Start, oldest.End
		if oldest.Start > stream.MinTime+o.a.slide && newest.Start < stream.MaxTime-o.a.slide && hi < stream.MaxTime {
			lo = max(lo, oldest.Start-o.a.slide+o.a.size)
			hi = min(hi, newest.Start+o.a.slide)
			o.slotLo, o.slotHi, o.slotOK = lo, hi, true
		}
	}
	for _, p := range o.slot {
		if err := o.addToPane(p, k, r, out); err != nil {
			return err
		}
	}
	return nil
}

func (o *op[K, T, Acc, Out]) newPane(sp Span) *pane[K, Acc] {
	p := &pane[K, Acc]{span: sp}
	if o.keyHint > smallPane {
		p.index = make(map[K]int32, o.keyHint)
	}
	p.seq = o.nextSeq()
	if o.keyHint > 0 {
		p.slots = make([]slot[K, Acc], 0, o.keyHint)
	}
	if sp.End-1 <= o.wm {
		p.fired, p.at = true, closeAt(sp.End, o.cfg.lateness)
	} else {
		p.at = sp.End - 1
	}
	o.panes[sp] = p
	o.ph.push(p, &p.sched)
	o.nextDue = min(o.nextDue, p.at)
	o.armProc()
	return p
}

func (o *op[K, T, Acc, Out]) addToPane(p *pane[K, Acc], k K, r stream.Record[T], out stream.Emitter[Result[K, Out]]) error {
	i, ok := p.find(k)
	if !ok {
		i = p.insert(k, o.newAcc())
	}
	s := &p.slots[i]
	if o.agg != nil {
		s.acc = o.agg.Add(s.acc, r.Value)
	} else {
		s.acc = o.addRec(s.acc, r)
	}
	if !p.fired && !o.triggers {
		return nil
	}
	return o.after(&s.cell, k, p.span, dirtyRef[K, Acc]{p: p, i: i}, out)
}

func (o *op[K, T, Acc, Out]) advancePanes(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	for {
		p, ok := o.ph.peek()
		if !ok || p.at > w {
			return nil
		}
		if !p.fired {
			p.fired = true
			for i := range p.slots {
				s := &p.slots[i]
				if err := o.fire(&s.cell, s.key, p.span, OnTime, out); err != nil {
					return err
				}
			}
			if ca := closeAt(p.span.End, o.cfg.lateness); ca > w {
				p.at = ca
				o.ph.fix(p.idx)
				continue
			}
		}
		o.ph.remove(p.idx)
		delete(o.panes, p.span)
		if o.last == p {
			o.last = nil
		}
		o.slotOK = false
		o.keyHint = len(p.slots)
		p.slots, p.index = nil, nil
	}
}

// Session windows.

func (o *op[K, T, Acc, Out]) setStage(s *session[K, Acc]) {
	if s.span.End-1 <= o.wm {
		s.fired, s.due = true, closeAt(s.span.End, o.cfg.lateness)
	} else {
		s.fired, s.due = false, s.span.End-1
	}
}

func (o *op[K, T, Acc, Out]) addSession(r stream.Record[T], t stream.Time, out stream.Emitter[Result[K, Out]]) error {
	k := o.key(r.Value)
	sp := Span{Start: t, End: addSat(t, o.a.gap)}
	ws := o.sessions[k] // sorted by start; neither overlapping nor touching
	lo := 0
	for lo < len(ws) && ws[lo].span.End < sp.Start {
		lo++
	}
	hi := lo
	for hi < len(ws) && ws[hi].span.Start <= sp.End {
		hi++
	}
	var s *session[K, Acc]
	if lo == hi {
		if o.closed(sp.End) {
			return o.late(r, []Span{sp})
		}
		s = &session[K, Acc]{key: k, span: sp, cell: cell[Acc]{acc: o.newAcc()}}
		s.seq = o.nextSeq()
		o.setStage(s)
		s.at = s.due
		o.sessions[k] = slices.Insert(ws, lo, s)
		o.sh.push(s, &s.sched)
		o.nextDue = min(o.nextDue, s.due)
		o.armProc()
	} else {
		// ws[lo:hi] overlap or touch the record's window: merge them into the
		// last one, which has the largest end.
		s = ws[hi-1]
		start := min(ws[lo].span.Start, sp.Start)
		if hi-lo > 1 {
			acc, n := ws[lo].acc, ws[lo].n
			for i := lo + 1; i < hi; i++ {
				acc = o.merge(acc, ws[i].acc)
				n += ws[i].n
			}
			for i := lo; i < hi-1; i++ {
				o.sh.remove(ws[i].idx)
			}
			o.refreshDue()
			s.acc, s.n = acc, n
			o.sessions[k] = slices.Delete(ws, lo, hi-1)
		}
		s.span.Start = start
		if sp.End > s.span.End {
			s.span.End = sp.End
			o.setStage(s)
			if s.due < s.at {
				s.at = s.due
				o.sh.fix(s.idx)
				o.refreshDue()
			}
			// Otherwise the heap entry stays at the earlier time and moves
			// when it comes up: one heap operation per watermark passing,
			// not per record extending the session.
		}
	}
	s.acc = o.add(s.acc, r)
	return o.after(&s.cell, k, s.span, dirtyRef[K, Acc]{s: s}, out)
}

func (o *op[K, T, Acc, Out]) advanceSessions(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	for {
		s, ok := o.sh.peek()
		if !ok || s.at > w {
			return nil
		}
		if s.due > s.at {
			s.at = s.due
			o.sh.fix(s.idx)
			continue
		}
		if !s.fired {
			s.fired = true
			if err := o.fire(&s.cell, s.key, s.span, OnTime, out); err != nil {
				return err
			}
			if ca := closeAt(s.span.End, o.cfg.lateness); ca > w {
				s.due, s.at = ca, ca
				o.sh.fix(s.idx)
				continue
			}
		}
		o.sh.remove(s.idx)
		ws := o.sessions[s.key]
		if i := slices.Index(ws, s); i >= 0 {
			ws = slices.Delete(ws, i, i+1)
		}
		if len(ws) == 0 {
			delete(o.sessions, s.key)
		} else {
			o.sessions[s.key] = ws
		}
	}
}

// Global windows.

func (o *op[K, T, Acc, Out]) addGlobal(r stream.Record[T], out stream.Emitter[Result[K, Out]]) error {
	k := o.key(r.Value)
	g := o.globals[k]
	if g == nil {
		g = &global[K, Acc]{key: k, cell: cell[Acc]{acc: o.newAcc()}}
		o.globals[k] = g
		o.gorder = append(o.gorder, g)
	}
	g.acc = o.add(g.acc, r)
	g.count++
	if o.a.every > 0 && g.count >= o.a.every {
		err := o.fire(&g.cell, k, globalSpan, OnTime, out)
		g.acc, g.count = o.newAcc(), 0
		return err
	}
	return o.after(&g.cell, k, globalSpan, dirtyRef[K, Acc]{g: g}, out)
}

func (o *op[K, T, Acc, Out]) advanceGlobal(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	if w < globalSpan.End-1 {
		return nil
	}
	for _, g := range o.gorder {
		if g.count == 0 {
			continue
		}
		if err := o.fire(&g.cell, g.key, globalSpan, OnTime, out); err != nil {
			return err
		}
		g.acc, g.count = o.newAcc(), 0
	}
	clear(o.globals)
	o.gorder = nil
	return nil
}
