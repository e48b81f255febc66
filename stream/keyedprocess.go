package stream

import (
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/stream/codec"
)

// KeyedFuncs are the callbacks of a [KeyedProcess] operator, Flink's
// KeyedProcessFunction. Both run on the instance's goroutine with the
// current key set: the keyed states declared in the setup function read
// and write that key's state.
type KeyedFuncs[K comparable, In, Out any] struct {
	// Process handles one record of key c.Key(). It may emit any number of
	// records, read and write the key's states and register or delete the
	// key's timers. An error fails the run.
	Process func(c *KeyedContext[K], r Record[In], out Emitter[Out]) error
	// OnTimer is called when a timer of key c.Key() fires (nil: timers
	// only wake nothing; registering one is then pointless). Event-time
	// timers fire when the watermark reaches their time, in time order,
	// before the watermark goes downstream; processing-time timers when the
	// pipeline's clock does. A record emitted at t.Time is on time for an
	// event-time timer.
	OnTimer func(c *KeyedContext[K], t Timer, out Emitter[Out]) error
}

// TimeDomain says which time a timer waits for.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark reaches their time.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the pipeline's clock reaches theirs.
	ProcessingTime
)

// Timer is a firing timer: its time (for a processing-time timer, the
// clock time as a Time: use [Time.Std]) and its domain.
type Timer struct {
	Time   Time
	Domain TimeDomain
}

// KeyedContext is the current key of a [KeyedProcess] callback and its
// timer service. It belongs to the instance's goroutine and is valid only
// during the callback.
type KeyedContext[K comparable] struct {
	event *timerQueue[K]
	proc  procTimers[K]
	key   K
	g     int
	c     *Context
}

// procTimers is the operator side of a KeyedContext's processing-time
// timers, which arm the runtime's timer.
type procTimers[K comparable] interface {
	registerProc(g int, k K, t Time)
	deleteProc(g int, k K, t Time)
}

// Key returns the current key.
func (c *KeyedContext[K]) Key() K { return c.key }

// Watermark returns the operator's current input watermark.
func (c *KeyedContext[K]) Watermark() Time { return c.c.wm }

// Context returns the instance's [Context]: its clock, side outputs,
// logger and metrics.
func (c *KeyedContext[K]) Context() *Context { return c.c }

// RegisterEventTimer asks for OnTimer of the current key once the watermark
// reaches t. A key has at most one timer at a time t: registering it again
// does nothing. A timer at or before the current watermark fires with the
// next watermark (at the latest at the end of the input).
func (c *KeyedContext[K]) RegisterEventTimer(t Time) { c.event.add(c.g, c.key, t) }

// DeleteEventTimer deletes the current key's event-time timer at t, if any.
func (c *KeyedContext[K]) DeleteEventTimer(t Time) { c.event.remove(c.g, c.key, t) }

// RegisterProcessingTimer asks for OnTimer of the current key once the
// pipeline's clock reaches t (nanosecond precision; one timer per key and
// time). Processing-time timers are served as [TimerHandler] timers are.
func (c *KeyedContext[K]) RegisterProcessingTimer(t time.Time) {
	c.proc.registerProc(c.g, c.key, TimeOf(t))
}

// DeleteProcessingTimer deletes the current key's processing-time timer at
// t, if any.
func (c *KeyedContext[K]) DeleteProcessingTimer(t time.Time) {
	c.proc.deleteProc(c.g, c.key, TimeOf(t))
}

// KeyedProcess adds a keyed process operator to s: Flink's
// KeyedProcessFunction. setup is called once per parallel instance when the
// pipeline is built; it declares the instance's per-key states on st
// ([NewValueState], [NewMapState], [NewListState]) and returns the
// callbacks, which use them. Each record is handed to Process with its key
// as the current key; timers registered through the [KeyedContext] call
// OnTimer with their key as the current key.
//
// The states and timers are kept per key group and checkpointed per key
// group, so a checkpoint restores at any parallelism up to the pipeline's
// maximum parallelism (see [WithCheckpoints]); name the operator ([Name])
// for its state to survive changes to the pipeline. A key's timers are
// restored with it; a processing-time timer whose time passed while the
// pipeline was down fires when the restored run starts.
//
// The operator runs chained to s's exchange. Its default name is its
// input's name and ".keyedprocess".
func KeyedProcess[K comparable, In, Out any](s KeyedStream[K, In], setup func(st *KeyedStates) KeyedFuncs[K, In, Out], opts ...OperatorOption) Stream[Out] {
	in := s.must()
	var own keyedConfig
	cfg := Configure("keyedprocess", &own, opts)
	if err := cfg.Err(); err != nil {
		in.p.fail(err)
	}
	group := s.KeyGroup()
	key := s.Key
	maxPar := in.p.cfg.maxParallelism
	backend := in.p.cfg.stateBackend
	if own.backendSet {
		backend = own.backend
	}
	out := Apply(s.Stream, func() Operator[In, Out] {
		return newKeyedOp(key, group, maxPar, backend, setup)
	}, cfg.As("keyedprocess"))
	switch {
	case setup == nil:
		in.p.failf("%s: nil setup function", out.Name())
	case key == nil:
		in.p.failf("%s: keyed stream without a key function", out.Name())
	}
	return out
}

// keyedOp is a KeyedProcess instance.
type keyedOp[K comparable, In, Out any] struct {
	key   func(In) K
	group func(K) int
	fns   KeyedFuncs[K, In, Out]
	st    KeyedStates
	mem   *memBackend[K]   // the in-memory backend, or
	sb    *storeBackend[K] // a StateStore
	kc    KeyedContext[K]
	kcod  codec.Codec[K]
	event timerQueue[K]
	proc  timerQueue[K]
	c     *Context

	procArmed bool // a runtime timer is registered at procAt
	procAt    Time
	lastWM    Time // the watermark whose timers have fired

	pending []pendingGroup // restored before Open, for the store
}

// pendingGroup is a key group's state restored into a store backend before
// its store is open.
type pendingGroup struct {
	g int
	b []byte
}

func newKeyedOp[K comparable, In, Out any](key func(In) K, group func(K) int, maxPar int, backend StateBackend, setup func(*KeyedStates) KeyedFuncs[K, In, Out]) *keyedOp[K, In, Out] {
	o := &keyedOp[K, In, Out]{key: key, group: group, kcod: codec.For[K](),
		event: newTimerQueue[K](maxPar), proc: newTimerQueue[K](maxPar), lastWM: MinTime}
	if backend.open != nil {
		o.sb = newStoreBackend(&o.st, backend.open, o.kcod)
	} else {
		o.mem = newMemBackend[K](&o.st, maxPar)
	}
	o.kc.event, o.kc.proc = &o.event, o
	if setup != nil {
		o.fns = setup(&o.st)
	}
	o.st.started = true
	return o
}

func (o *keyedOp[K, In, Out]) Open(c *Context) error {
	o.c, o.kc.c = c, c
	if o.fns.Process == nil {
		return fmt.Errorf("%w: KeyedFuncs without Process", ErrInvalid)
	}
	o.st.clock = c.Clock()
	o.lastWM = c.wm // restored with the checkpoint
	if o.sb != nil {
		err := o.sb.start(StoreInfo{Operator: c.Name(), Instance: c.Instance(), Parallelism: c.Parallelism(),
			MaxParallelism: c.MaxParallelism(), KeyGroups: c.KeyGroups()})
		if err != nil {
			return err
		}
		o.st.evNow, o.st.procOK = o.lastWM, false
		for _, p := range o.pending {
			if err := o.RestoreKeyGroup(p.g, p.b); err != nil {
				return err
			}
		}
		o.pending = nil
	}
	for _, t := range o.st.ttls {
		switch {
		case t.domain == ProcessingTime:
			t.open(TimeOf(c.Clock().Now()))
		case o.lastWM != MinTime:
			t.open(o.lastWM)
		}
	}
	o.armProc()
	return nil
}

// Close closes the state store, if there is one and it is an io.Closer.
func (o *keyedOp[K, In, Out]) Close() error {
	if o.sb != nil && o.sb.store != nil {
		return o.sb.close()
	}
	return nil
}

// setKey makes k, of group g, the current key of a callback whose
// event-time TTL time is now.
func (o *keyedOp[K, In, Out]) setKey(k K, g int, now Time) error {
	o.kc.key, o.kc.g = k, g
	o.st.evNow, o.st.procOK = now, false
	if o.sb != nil {
		return o.sb.setKey(k, g)
	}
	o.mem.setKey(k, g)
	return nil
}

// unset ends a callback that returned err.
func (o *keyedOp[K, In, Out]) unset(err error) error {
	if o.sb != nil {
		if uerr := o.sb.unset(); err == nil {
			err = uerr
		}
	} else {
		o.mem.unset()
	}
	if o.st.procTTL {
		o.st.procTTL = false
		o.armProc()
	}
	return err
}

func (o *keyedOp[K, In, Out]) ProcessRecord(r Record[In], out Emitter[Out]) error {
	k := o.key(r.Value)
	if err := o.setKey(k, o.group(k), max(r.Time, o.lastWM)); err != nil {
		return err
	}
	return o.unset(o.fns.Process(&o.kc, r, out))
}

// ProcessWatermark fires the event-time timers w reaches, in time order,
// then deletes the values of event-time TTL states that expired by w.
func (o *keyedOp[K, In, Out]) ProcessWatermark(w Time, out Emitter[Out]) error {
	prev := o.lastWM
	for {
		e, ok := o.event.popDue(w)
		if !ok {
			break
		}
		if err := o.fire(e, EventTime, max(e.at, prev), out); err != nil {
			return err
		}
	}
	o.lastWM = max(w, prev)
	for _, t := range o.st.ttls {
		if t.domain == EventTime {
			if t.fix != nil {
				t.open(o.lastWM)
			}
			t.cleanup(o.lastWM)
		}
	}
	return nil
}

// watermarkDue returns where the time of the earliest event-time timer is
// kept (a deleted one included; MaxTime if none), below which
// ProcessWatermark fires nothing, and lastWM, which it then merely raises.
// With an event-time TTL state every watermark may have values to delete:
// nil, nil.
func (o *keyedOp[K, In, Out]) watermarkDue() (due, passed *Time) {
	for _, t := range o.st.ttls {
		if t.domain == EventTime {
			return nil, nil
		}
	}
	return &o.event.top, &o.lastWM
}

func (o *keyedOp[K, In, Out]) fire(e timerEntryK[K], d TimeDomain, now Time, out Emitter[Out]) error {
	if o.fns.OnTimer == nil {
		return nil
	}
	if err := o.setKey(e.key, int(e.g), now); err != nil {
		return err
	}
	return o.unset(o.fns.OnTimer(&o.kc, Timer{Time: e.at, Domain: d}, out))
}

// OnTimer fires the processing-time timers the clock reached, then deletes
// the values of processing-time TTL states that expired by now.
func (o *keyedOp[K, In, Out]) OnTimer(now time.Time, out Emitter[Out]) error {
	o.procArmed = false
	t := TimeOf(now)
	for {
		e, ok := o.proc.popDue(t)
		if !ok {
			break
		}
		if err := o.fire(e, ProcessingTime, o.lastWM, out); err != nil {
			return err
		}
	}
	for _, ts := range o.st.ttls {
		if ts.domain == ProcessingTime {
			ts.cleanup(t)
		}
	}
	o.armProc()
	return nil
}

// armProc registers a runtime timer for the earliest processing-time timer
// or TTL expiry unless one is registered at or before it.
func (o *keyedOp[K, In, Out]) armProc() {
	at, ok := o.proc.peek()
	for _, t := range o.st.ttls {
		if h, hok := t.head(); hok && t.domain == ProcessingTime && (!ok || h < at) {
			at, ok = h, true
		}
	}
	if !ok || o.c == nil || (o.procArmed && o.procAt <= at) {
		return
	}
	o.procArmed, o.procAt = true, at
	o.c.RegisterTimer(at.Std())
}

func (o *keyedOp[K, In, Out]) deleteProc(g int, k K, t Time) { o.proc.remove(g, k, t) }
func (o *keyedOp[K, In, Out]) registerProc(g int, k K, t Time) {
	if o.proc.add(g, k, t) {
		o.armProc()
	}
}

// SnapshotKeyGroup encodes key group g: its keys with their states, and its
// timers. It implements [KeyGroupSnapshotter].
func (o *keyedOp[K, In, Out]) SnapshotKeyGroup(g int) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // a gob fallback of a type it cannot encode
			b, err = nil, fmt.Errorf("snapshot of keyed state (states and keys need a codec: a basic type, a BinaryMarshaler, a gob-encodable type, or StateCodec): %v", r)
		}
	}()
	timers := len(o.event.sets[g]) > 0 || len(o.proc.sets[g]) > 0
	var e codec.Encoder
	e.Byte(keyedSnapVersion)
	if o.sb != nil {
		buf, some, err := o.sb.snapshotGroup(e.Data(), g, o.lastWM)
		if err != nil || (!some && !timers) {
			return nil, err
		}
		e = *codec.NewEncoder(buf)
	} else {
		if len(o.mem.groups[g]) == 0 && !timers {
			return nil, nil
		}
		o.mem.snapshotGroup(&e, g, o.kcod)
	}
	for _, q := range []*timerQueue[K]{&o.event, &o.proc} {
		set := q.sets[g]
		e.Uint(uint64(len(set)))
		for id := range set {
			o.kcod.Append(&e, id.key)
			e.Int(int64(id.at))
		}
	}
	return e.Data(), nil
}

// RestoreKeyGroup adds key group g's keys, states and timers from a
// checkpoint. It implements [KeyGroupSnapshotter].
func (o *keyedOp[K, In, Out]) RestoreKeyGroup(g int, b []byte) error {
	if g < 0 || g >= len(o.event.sets) {
		return fmt.Errorf("%w: keyed state of key group %d", ErrCorruptCheckpoint, g)
	}
	if o.sb != nil && o.sb.store == nil {
		o.pending = append(o.pending, pendingGroup{g: g, b: slices.Clone(b)})
		return nil
	}
	d := codec.NewDecoder(b, fmt.Sprintf("keyed state of key group %d", g))
	v := d.Byte()
	if d.Err() == nil && v != keyedSnapV1 && v != keyedSnapVersion {
		d.Fail("version %d, want %d or %d", v, keyedSnapV1, keyedSnapVersion)
	}
	if o.sb != nil {
		if err := o.sb.restoreGroup(d, v, g, o.group); err != nil {
			return err
		}
	} else {
		o.mem.restoreGroup(d, v, g, o.kcod, o.group)
	}
	for _, q := range []*timerQueue[K]{&o.event, &o.proc} {
		n := d.Count()
		for range n {
			k := o.kcod.Decode(d)
			at := Time(d.Int())
			if d.Err() != nil {
				break
			}
			if kg := o.group(k); kg != g {
				d.Fail("timer of a key of group %d in group %d", kg, g)
				break
			}
			if !q.add(g, k, at) {
				d.Fail("timer twice in group %d", g)
				break
			}
		}
	}
	return d.Finish()
}

var (
	_ Operator[int, int]  = (*keyedOp[int, int, int])(nil)
	_ Opener              = (*keyedOp[int, int, int])(nil)
	_ Closer              = (*keyedOp[int, int, int])(nil)
	_ TimerHandler[int]   = (*keyedOp[int, int, int])(nil)
	_ KeyGroupSnapshotter = (*keyedOp[int, int, int])(nil)
	_ watermarkDue        = (*keyedOp[int, int, int])(nil)
)
