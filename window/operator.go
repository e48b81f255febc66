package window

import (
	"fmt"
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
// time. Call it while building the pipeline. Late records are counted in
// the metrics hook's Late count; if nobody consumes this output, a late
// record fails the run with [stream.ErrNotConnected] unless the operator
// has [DiscardLate].
func (w Windowed[K, T, Out]) Late() stream.Stream[LateRecord[T]] {
	return stream.SideOutput(w.Stream, w.late)
}

// Aggregate windows a keyed stream: the assigner places every record in its
// windows, agg folds each window's records of one key into one accumulator,
// and each firing emits a [Result] carrying the key, the window, agg's result
// and the kind of firing, at time End-1 and before the watermark that fired
// it travels on. Options add allowed lateness, early firings and a count
// trigger.
//
// The operator runs in the keyed stream's parallel instances, each owning the
// windows of its keys. [stream.Name] names it; its default name is the keyed
// stream's name and the assigner, e.g. "plays.keyby.tumbling(1m0s)".
// Configuration mistakes (a non-positive size, a bad
// option) are returned by Run.
func Aggregate[K comparable, T, Acc, Out any](in stream.KeyedStream[K, T], a Assigner, agg Aggregator[T, Acc, Out], opts ...Option) Windowed[K, T, Out] {
	cfg, oc := newConfig(opts)
	if agg == nil && cfg.err == nil {
		cfg.err = fmt.Errorf("%w: nil aggregator", ErrInvalid)
	}
	return build(in, a, cfg, oc, func() *op[K, T, Acc, Out] {
		if agg == nil {
			return &op[K, T, Acc, Out]{} // Open reports cfg.err
		}
		o := &op[K, T, Acc, Out]{
			agg:    agg,
			newAcc: agg.New,
			merge:  agg.Merge,
			result: func(_ K, _ Span, acc Acc) Out { return agg.Result(acc) },
		}
		if cfg.onClose {
			o.final, _ = agg.(FinalResulter[Acc, Out])
		}
		return o
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
	cfg, oc := newConfig(opts)
	if fn == nil && cfg.err == nil {
		cfg.err = fmt.Errorf("%w: nil process function", ErrInvalid)
	}
	return build(in, a, cfg, oc, func() *op[K, T, []stream.Record[T], Out] {
		return &op[K, T, []stream.Record[T], Out]{
			newAcc: func() []stream.Record[T] { return nil },
			addRec: func(acc []stream.Record[T], r stream.Record[T]) []stream.Record[T] { return append(acc, r) },
			merge:  func(a, b []stream.Record[T]) []stream.Record[T] { return append(a, b...) },
			result: fn,
		}
	})
}

func newConfig(opts []Option) (config, *stream.OperatorConfig) {
	var cfg config
	oc := stream.Configure("window", &cfg, opts)
	if err := oc.Err(); err != nil && cfg.err == nil {
		cfg.err = fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return cfg, oc
}

// build adds the window operator. Its default name is its input's name and
// the assigner, e.g. "plays.keyby.tumbling(1m0s)" (see [stream.Name]).
func build[K comparable, T, Acc, Out any](in stream.KeyedStream[K, T], a Assigner, cfg config, oc *stream.OperatorConfig, mk func() *op[K, T, Acc, Out]) Windowed[K, T, Out] {
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
		case cfg.lateness != 0 && cfg.countN > 0:
			cfg.err = fmt.Errorf("%w: %v: a count trigger purges its window, so allowed lateness has nothing to update", ErrInvalid, a)
		case cfg.onClose && (cfg.earlyN > 0 || cfg.earlyD > 0):
			cfg.err = fmt.Errorf("%w: %v: FireOnClose fires once, at the close; early firings contradict it", ErrInvalid, a)
		case cfg.onClose && cfg.countN > 0:
			cfg.err = fmt.Errorf("%w: %v: FireOnClose fires once, at the close; a count trigger fires before it", ErrInvalid, a)
		}
	}
	kind := oc.Kind()
	if kind == "window" { // not handed on by another operator (a window join)
		kind = a.String()
	}
	group := in.KeyGroup()
	s := stream.Apply(in.Stream, func() stream.Operator[T, Result[K, Out]] {
		o := mk()
		o.a, o.cfg, o.key, o.lateTag, o.group = a, cfg, in.Key, late, group
		o.init()
		return o
	}, oc.As(kind))
	return Windowed[K, T, Out]{Stream: s, late: late}
}

// cell is the per-key state of one window: its accumulator, the records
// added since its last firing (for EarlyEvery), the records added since the
// last purge (for the count trigger and global windows), and whether it
// waits for an EarlyInterval firing.
type cell[Acc any] struct {
	acc   Acc
	count int
	n     int32
	dirty bool
}

// store holds the windows of one kind of assigner for an operator instance:
// panes shared by all keys for tumbling and sliding windows, per-key merging
// sessions, or one global window per key. The operator core owns what every
// kind shares (watermark, lateness, triggers, late output, timers) and calls
// into its store; the store calls back into the core to fire, to apply the
// triggers and to route late records.
type store[K comparable, T, Acc any, Out any] interface {
	// add places r, whose window time is t (its event time, or the clock's
	// for processing-time windows), in its windows.
	add(r stream.Record[T], t stream.Time, out stream.Emitter[Result[K, Out]]) error
	// advance fires and closes what the core's new watermark completes.
	advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error
	// due returns the watermark at which something is next due, MaxTime if
	// nothing is; ok is false when nothing is waiting for a time.
	due() (at stream.Time, ok bool)
	// fireDirty emits an early result for every window waiting for an
	// EarlyInterval firing; hasDirty reports whether one waits.
	fireDirty(out stream.Emitter[Result[K, Out]]) error
	hasDirty() bool
	// snapshot appends the state of each key to the snapState to returns
	// for it; restore adds a snapshot's state (those of several key groups
	// merge).
	snapshot(to func(K) *snapState[K, Acc])
	restore(st *snapState[K, Acc])
	finishRestore()
	reset()
}

// op is the keyed window operator; one per parallel instance. It is the
// part every assigner shares; its store holds the windows.
type op[K comparable, T, Acc, Out any] struct {
	a       Assigner
	cfg     config
	key     func(T) K
	agg     Aggregator[T, Acc, Out] // nil for Process
	final   FinalResulter[Acc, Out] // agg, under FireOnClose, when it takes accumulators over
	addRec  func(Acc, stream.Record[T]) Acc
	newAcc  func() Acc
	merge   func(Acc, Acc) Acc
	result  func(K, Span, Acc) Out
	lateTag *stream.OutputTag[LateRecord[T]]
	group   func(K) int // the key's key group, for checkpoints
	st      store[K, T, Acc, Out]
	panes   *paneStore[K, T, Acc, Out] // st, for tumbling and sliding windows: a direct call per record
	// counting: agg is the built-in Count, so Acc is int64 and a pane adds
	// a record by an increment in place instead of a call through agg.
	counting bool

	ctx       *stream.Context
	clock     stream.Clock
	triggers  bool        // a record may fire at once: EarlyEvery, EarlyInterval or a count trigger
	nextDue   stream.Time // the earliest due time in the store: watermarks below it do nothing
	lateOut   stream.Emitter[LateRecord[T]]
	needClock bool
	now       time.Time   // clock reading for the current record (needClock)
	wm        stream.Time // event-time watermark; processing time - 1 for processing-time windows
	seq       uint64

	earlyArmed bool
	earlyDue   time.Time
	procArmed  bool
	procAt     stream.Time
	procDue    stream.Time // MaxTime: what WatermarkDue returns for processing-time windows
	procPassed stream.Time // the watermark WatermarkDue lets the runtime raise for them

	restoring     bool           // key groups are being restored: Open finishes
	groupSnaps    map[int][]byte // the current checkpoint's groups not handed out yet
	lastSnapGroup int
}

var _ stream.Operator[int, Result[int, int64]] = (*op[int, int, int64, int64])(nil)
var _ stream.Opener = (*op[int, int, int64, int64])(nil)
var _ stream.TimerHandler[Result[int, int64]] = (*op[int, int, int64, int64])(nil)
var _ stream.KeyGroupSnapshotter = (*op[int, int, int64, int64])(nil)
var _ stream.WatermarkDue = (*op[int, int, int64, int64])(nil)

// init resets the operator to no windows, making its store on first use.
func (o *op[K, T, Acc, Out]) init() {
	o.wm = stream.MinTime
	o.triggers = o.cfg.earlyN > 0 || o.cfg.earlyD > 0 || o.cfg.countN > 0
	_, o.counting = any(o.agg).(countAgg[T])
	if o.st == nil {
		switch o.a.kind {
		case kindSession:
			o.st = newSessionStore(o)
		case kindGlobal:
			o.st = newGlobalStore(o)
		default: // tumbling, sliding; an invalid assigner fails in Open
			o.panes = newPaneStore(o)
			o.st = o.panes
		}
	}
	o.st.reset()
	o.refreshDue()
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
	o.restoredWatermark(ctx.Watermark())
	o.restored()
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
	if o.panes != nil {
		return o.panes.add(r, t, out)
	}
	return o.st.add(r, t, out)
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

// WatermarkDue lets the runtime skip the watermarks that fire nothing
// (see [stream.WatermarkDue]): below nextDue, ProcessWatermark only raises
// wm. Processing-time windows react to the end of input only, and their wm
// follows the clock: the runtime raises a field nothing reads.
func (o *op[K, T, Acc, Out]) WatermarkDue() (due, passed *stream.Time) {
	if o.a.proc {
		o.procDue = stream.MaxTime
		return &o.procDue, &o.procPassed
	}
	return &o.nextDue, &o.wm
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
		return o.st.fireDirty(out)
	}
	return nil
}

// add folds r into acc.
func (o *op[K, T, Acc, Out]) add(acc Acc, r stream.Record[T]) Acc {
	if o.agg != nil {
		return o.agg.Add(acc, r.Value)
	}
	return o.addRec(acc, r)
}

// refreshDue recomputes nextDue after the store's due times changed.
func (o *op[K, T, Acc, Out]) refreshDue() {
	o.nextDue, _ = o.st.due()
}

// scheduled tells the core that the store has a new window due at at.
func (o *op[K, T, Acc, Out]) scheduled(at stream.Time) {
	o.nextDue = min(o.nextDue, at)
	o.armProc()
}

func (o *op[K, T, Acc, Out]) nextSeq() uint64 {
	o.seq++
	return o.seq
}

// fire emits the cell's result and resets its early-firing state.
func (o *op[K, T, Acc, Out]) fire(c *cell[Acc], key K, sp Span, f Firing, out stream.Emitter[Result[K, Out]]) error {
	c.n, c.dirty = 0, false
	at := sp.End - 1
	if o.cfg.onClose {
		at = closeAt(sp.End, o.cfg.lateness)
	}
	var v Out
	switch {
	case o.final != nil && f == OnTime:
		// Under FireOnClose the on-time firing is the window's only and
		// last: its accumulator is dropped right after, so the result may
		// take it over.
		v = o.final.FinalResult(c.acc)
		var zero Acc
		c.acc = zero
	case o.agg != nil:
		v = o.agg.Result(c.acc) // one dynamic call, not two through o.result
	default:
		v = o.result(key, sp, c.acc)
	}
	return out.Emit(stream.Record[Result[K, Out]]{
		Time:  at,
		Value: Result[K, Out]{Key: key, Start: sp.Start, End: sp.End, Value: v, Firing: f},
	})
}

// purge fires the cell's result and starts its accumulator afresh (the
// count trigger, and global windows at the end of input).
func (o *op[K, T, Acc, Out]) purge(c *cell[Acc], key K, sp Span, out stream.Emitter[Result[K, Out]]) error {
	err := o.fire(c, key, sp, OnTime, out)
	c.acc, c.count = o.newAcc(), 0
	return err
}

// after applies the triggers to a cell that has just received a record
// (and counted it in c.count, where the store counts). It reports whether
// the cell now waits for an EarlyInterval firing: the store then remembers
// it, for fireDirty.
func (o *op[K, T, Acc, Out]) after(c *cell[Acc], key K, sp Span, out stream.Emitter[Result[K, Out]]) (dirty bool, err error) {
	if o.cfg.countN > 0 && c.count >= o.cfg.countN {
		return false, o.purge(c, key, sp, out)
	}
	if sp.End-1 <= o.wm && !o.cfg.onClose {
		// The window has had its on-time firing and is not closed: a late
		// firing with the updated result.
		return false, o.fire(c, key, sp, Late, out)
	}
	if o.cfg.earlyN > 0 {
		if c.n++; int(c.n) >= o.cfg.earlyN {
			return false, o.fire(c, key, sp, Early, out)
		}
	}
	if o.cfg.earlyD > 0 && !c.dirty {
		c.dirty = true
		if !o.earlyArmed {
			o.earlyArmed = true
			o.earlyDue = o.now.Add(o.cfg.earlyD)
			o.ctx.RegisterTimer(o.earlyDue)
		}
		return true, nil
	}
	return false, nil
}

// onTime is the on-time firing of a cell: with a count trigger, only what
// the last count firing left, if anything.
func (o *op[K, T, Acc, Out]) onTime(c *cell[Acc], key K, sp Span, out stream.Emitter[Result[K, Out]]) error {
	if o.cfg.countN > 0 {
		if c.count == 0 {
			return nil
		}
		return o.purge(c, key, sp, out)
	}
	return o.fire(c, key, sp, OnTime, out)
}

func (o *op[K, T, Acc, Out]) late(r stream.Record[T], missed []Span) error {
	if o.ctx != nil {
		o.ctx.CountLate(1)
	}
	if o.lateOut == nil {
		if o.cfg.discardLate {
			return nil
		}
		return fmt.Errorf("%w: record at %v is late (its windows %v have closed) and nothing consumes the late output: consume Late() or give window.DiscardLate()", stream.ErrNotConnected, r.Time, missed)
	}
	return o.lateOut.Emit(stream.Record[LateRecord[T]]{Time: r.Time, Value: LateRecord[T]{Record: r, Windows: missed}})
}

func (o *op[K, T, Acc, Out]) closed(end stream.Time) bool {
	return closeAt(end, o.cfg.lateness) <= o.wm
}

// stage returns whether a window ending at end has had its on-time firing,
// and the watermark at which it is due next: End-1 to fire, then its close.
// With FireOnClose it fires at its close.
func (o *op[K, T, Acc, Out]) stage(end stream.Time) (fired bool, due stream.Time) {
	if o.cfg.onClose {
		return false, closeAt(end, o.cfg.lateness)
	}
	if end-1 <= o.wm {
		return true, closeAt(end, o.cfg.lateness)
	}
	return false, end - 1
}

// restoredStage is stage for a window a checkpoint says had fired or not.
// With FireOnClose a window fires at its close, whatever the checkpoint
// says: one written without the option may have fired on time, and the
// records it accepted since would otherwise never be emitted.
func (o *op[K, T, Acc, Out]) restoredStage(end stream.Time, fired bool) (bool, stream.Time) {
	switch {
	case o.cfg.onClose:
		return false, closeAt(end, o.cfg.lateness)
	case fired:
		return true, closeAt(end, o.cfg.lateness)
	}
	return false, end - 1
}

// advance moves the watermark to w, firing and closing what it completes.
func (o *op[K, T, Acc, Out]) advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	if w <= o.wm {
		return nil
	}
	o.wm = w
	err := o.st.advance(w, out)
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
	if o.cfg.earlyD > 0 && o.st.hasDirty() && !o.earlyArmed {
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
	due, ok := o.st.due()
	if !ok {
		return
	}
	at := addSat(due, 1)
	if o.procArmed && o.procAt <= at {
		return
	}
	o.procArmed, o.procAt = true, at
	o.ctx.RegisterTimer(at.Std())
}
