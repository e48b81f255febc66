package enrich

import (
	"fmt"
	"sort"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// IntervalJoin joins, in event time, every record a of stream a with every
// record b of stream b that has the same key and a time in a's interval:
//
//	a.t + lower <= b.t <= a.t + upper   (both bounds inclusive)
//
// Each pair yields join(a, b) at time max(a.t, b.t), as in Flink. Both
// inputs are partitioned by key through one exchange ([stream.Connect]), and
// the join's watermark is the minimum of both inputs' watermarks, leaving
// out an idle input. A record is held in state only until the watermark
// passes the last time a partner could have: a until a.t + upper, b until
// b.t - lower. State is therefore bounded by the records of an interval (plus
// the inputs' out-of-orderness), not by the stream.
//
// A record that is late when it arrives (its time at or below the join's
// watermark) is not joined: it goes to [Joined.Late]. lower > upper is an
// empty interval and fails the run with [stream.ErrInvalid].
func IntervalJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, lower, upper time.Duration, join func(A, B) Out, opts ...JoinOption) Joined[A, B, Out] {
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, _, _ bool) Out { return join(x, y) }
	}
	return intervalJoin(a, b, keyA, keyB, lower, upper, fn, false, false, opts)
}

// IntervalLeftJoin is the left-outer [IntervalJoin]: every pair yields
// join(a, b, true) at time max(a.t, b.t), and a record a that found no
// partner yields join(a, zero B, false) once the watermark passes a.t + upper
// (when no partner can arrive any more), at time max(a.t, a.t + upper). That
// time is after every watermark the join has forwarded before, so the
// unmatched record is never late downstream.
func IntervalLeftJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, lower, upper time.Duration, join func(a A, b B, matched bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, _, hasB bool) Out { return join(x, y, hasB) }
	}
	return intervalJoin(a, b, keyA, keyB, lower, upper, fn, true, false, opts)
}

// IntervalRightJoin is the right-outer [IntervalJoin], the mirror of
// [IntervalLeftJoin]: every pair yields join(a, b, true) at time
// max(a.t, b.t), and a record b that found no partner yields
// join(zero A, b, false) once the watermark passes b.t - lower (when no
// partner can arrive any more), at time max(b.t, b.t - lower) — after every
// watermark the join has forwarded before, so it is never late downstream.
// A right join of a and b is a left join of b and a with the bounds
// negated and swapped; this one keeps a on the left, so a stream of payments
// (b) can be reported with or without its order (a).
func IntervalRightJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, lower, upper time.Duration, join func(a A, b B, matched bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, hasA, _ bool) Out { return join(x, y, hasA) }
	}
	return intervalJoin(a, b, keyA, keyB, lower, upper, fn, false, true, opts)
}

// IntervalFullJoin is the full-outer [IntervalJoin]: every pair yields
// join(a, b, true, true) at time max(a.t, b.t); a record a that found no
// partner yields join(a, zero B, true, false) at max(a.t, a.t + upper) as in
// [IntervalLeftJoin], and a record b that found none yields
// join(zero A, b, false, true) at max(b.t, b.t - lower) as in
// [IntervalRightJoin]. Every input record that is not late therefore comes
// out at least once.
func IntervalFullJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, lower, upper time.Duration, join func(a A, b B, hasA, hasB bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	return intervalJoin(a, b, keyA, keyB, lower, upper, join, true, true, opts)
}

func intervalJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, lower, upper time.Duration, join func(A, B, bool, bool) Out, outerA, outerB bool, opts []JoinOption) Joined[A, B, Out] {
	cfg := newJoinConfig("interval-join", opts)
	if lower > upper {
		cfg.invalid("interval join lower bound %v > upper bound %v", lower, upper)
	}
	if join == nil {
		cfg.invalid("nil join function")
	}
	if keyA == nil || keyB == nil {
		cfg.invalid("nil key function")
		keyA, keyB = func(A) K { var k K; return k }, func(B) K { var k K; return k }
	}
	ks := stream.Connect(a, b, keyA, keyB, cfg.exchange...)
	late := stream.NewOutputTag[stream.Either[A, B]]("late")
	set := &intervalSettings[A, B, K, Out]{cfg: cfg, keyA: keyA, keyB: keyB, lower: lower, upper: upper, join: join, outerA: outerA, outerB: outerB, late: late, group: ks.KeyGroup()}
	out := stream.Apply(ks.Stream, func() stream.Operator[stream.Either[A, B], Out] {
		return &intervalOp[A, B, K, Out]{intervalSettings: set}
	}, cfg.op.As(""))
	return Joined[A, B, Out]{Stream: out, late: func() stream.Stream[stream.Either[A, B]] { return stream.SideOutput(out, late) }}
}

type intervalSettings[A, B any, K comparable, Out any] struct {
	group        func(K) int // a key's key group, for checkpoints
	cfg          *joinConfig
	keyA         func(A) K
	keyB         func(B) K
	lower, upper time.Duration
	join         func(a A, b B, hasA, hasB bool) Out
	// outerA: an a without partner comes out (left and full joins);
	// outerB: a b without partner does (right and full joins).
	outerA, outerB bool
	late           *stream.OutputTag[stream.Either[A, B]]
}

// held is a record in join state.
type held[V any] struct {
	t       stream.Time
	v       V
	matched bool
}

// keyState holds one key's records of both sides, each sorted by time.
type keyState[A, B any] struct {
	as []held[A]
	bs []held[B]
}

type intervalOp[A, B any, K comparable, Out any] struct {
	*intervalSettings[A, B, K, Out]
	c     *stream.Context
	lateR lateOut[A, B]
	keys  map[K]*keyState[A, B]
	// expA holds (a.t + upper, key) per held a; expB (b.t - lower, key) per
	// held b: the watermarks at which they can be dropped.
	expA, expB expiryHeap[K]
	size, max  int

	groupSnaps    map[int][]byte // the current checkpoint's key groups not handed out yet
	lastSnapGroup int
}

func (o *intervalOp[A, B, K, Out]) Open(c *stream.Context) error {
	if err := o.cfg.err(); err != nil {
		return err
	}
	o.c = c
	o.lateR.open(c, o.late, o.cfg.discardLate)
	if o.keys == nil { // else restored
		o.keys = make(map[K]*keyState[A, B])
	}
	return nil
}

func (o *intervalOp[A, B, K, Out]) Close() error {
	if o.cfg.probe != nil {
		o.cfg.probe(o.max, o.size)
	}
	return nil
}

func maxTime(x, y stream.Time) stream.Time {
	if x > y {
		return x
	}
	return y
}

func (o *intervalOp[A, B, K, Out]) ProcessRecord(r stream.Record[stream.Either[A, B]], out stream.Emitter[Out]) error {
	w := o.c.Watermark()
	if r.Time <= w {
		return o.lateR.emit(r)
	}
	if r.Value.IsRight {
		return o.processB(r.Time, r.Value.Right, w, out)
	}
	return o.processA(r.Time, r.Value.Left, w, out)
}

func (o *intervalOp[A, B, K, Out]) processA(t stream.Time, v A, w stream.Time, out stream.Emitter[Out]) error {
	k := o.keyA(v)
	ks := o.keys[k]
	matched := false
	if ks != nil {
		// partners: a.t + lower <= b.t <= a.t + upper
		lo, hi := t.Add(o.lower), t.Add(o.upper)
		bs := ks.bs
		i := sort.Search(len(bs), func(i int) bool { return bs[i].t >= lo })
		for ; i < len(bs) && bs[i].t <= hi; i++ {
			matched = true
			bs[i].matched = true
			if err := out.Emit(stream.Record[Out]{Time: maxTime(t, bs[i].t), Value: o.join(v, bs[i].v, true, true)}); err != nil {
				return err
			}
		}
	}
	exp := t.Add(o.upper)
	if exp <= w { // no partner can come any more (upper < 0)
		if o.outerA && !matched {
			return o.emitA(t, v, out)
		}
		return nil
	}
	if ks == nil {
		ks = &keyState[A, B]{}
		o.keys[k] = ks
	}
	// The heap holds an entry per key at (or before) the expiry of its
	// earliest record, not one per record: push only when this record is
	// the new earliest (ProcessWatermark pushes the next one).
	if len(ks.as) == 0 || t < ks.as[0].t {
		o.expA.push(expiry[K]{at: exp, key: k})
	}
	ks.as = insertHeld(ks.as, held[A]{t: t, v: v, matched: matched})
	o.grow()
	return nil
}

func (o *intervalOp[A, B, K, Out]) processB(t stream.Time, v B, w stream.Time, out stream.Emitter[Out]) error {
	k := o.keyB(v)
	ks := o.keys[k]
	matched := false
	if ks != nil {
		// partners: b.t - upper <= a.t <= b.t - lower
		lo, hi := t.Add(-o.upper), t.Add(-o.lower)
		as := ks.as
		i := sort.Search(len(as), func(i int) bool { return as[i].t >= lo })
		for ; i < len(as) && as[i].t <= hi; i++ {
			matched = true
			as[i].matched = true
			if err := out.Emit(stream.Record[Out]{Time: maxTime(t, as[i].t), Value: o.join(as[i].v, v, true, true)}); err != nil {
				return err
			}
		}
	}
	exp := t.Add(-o.lower)
	if exp <= w { // no partner can come any more (lower > 0)
		if o.outerB && !matched {
			return o.emitB(t, v, out)
		}
		return nil
	}
	if ks == nil {
		ks = &keyState[A, B]{}
		o.keys[k] = ks
	}
	if len(ks.bs) == 0 || t < ks.bs[0].t {
		o.expB.push(expiry[K]{at: exp, key: k})
	}
	ks.bs = insertHeld(ks.bs, held[B]{t: t, v: v, matched: matched})
	o.grow()
	return nil
}

// emitA emits a record a that found no partner, at max(a.t, a.t + upper):
// the watermark has just passed a.t + upper, or had when a arrived with
// a time above it.
func (o *intervalOp[A, B, K, Out]) emitA(t stream.Time, v A, out stream.Emitter[Out]) error {
	var zero B
	return out.Emit(stream.Record[Out]{Time: maxTime(t, t.Add(o.upper)), Value: o.join(v, zero, true, false)})
}

// emitB emits a record b that found no partner, at max(b.t, b.t - lower).
func (o *intervalOp[A, B, K, Out]) emitB(t stream.Time, v B, out stream.Emitter[Out]) error {
	var zero A
	return out.Emit(stream.Record[Out]{Time: maxTime(t, t.Add(-o.lower)), Value: o.join(zero, v, false, true)})
}

func (o *intervalOp[A, B, K, Out]) grow() {
	if o.size++; o.size > o.max {
		o.max = o.size
	}
}

// insertHeld adds h to s keeping s sorted by time; inputs are nearly in
// order, so the walk back is short.
func insertHeld[V any](s []held[V], h held[V]) []held[V] {
	s = append(s, h)
	i := len(s) - 1
	for i > 0 && s[i-1].t > h.t {
		s[i] = s[i-1]
		i--
	}
	s[i] = h
	return s
}

func (o *intervalOp[A, B, K, Out]) ProcessWatermark(w stream.Time, out stream.Emitter[Out]) error {
	for o.expA.len() > 0 && o.expA.min().at <= w {
		k := o.expA.pop().key
		ks := o.keys[k]
		if ks == nil {
			continue
		}
		n := 0
		for n < len(ks.as) && ks.as[n].t.Add(o.upper) <= w {
			if h := ks.as[n]; o.outerA && !h.matched {
				if err := o.emitA(h.t, h.v, out); err != nil {
					return err
				}
			}
			n++
		}
		ks.as = dropFront(ks.as, n)
		o.size -= n
		if n > 0 && len(ks.as) > 0 {
			o.expA.push(expiry[K]{at: ks.as[0].t.Add(o.upper), key: k})
		}
		o.forget(k, ks)
	}
	for o.expB.len() > 0 && o.expB.min().at <= w {
		k := o.expB.pop().key
		ks := o.keys[k]
		if ks == nil {
			continue
		}
		n := 0
		for n < len(ks.bs) && ks.bs[n].t.Add(-o.lower) <= w {
			if h := ks.bs[n]; o.outerB && !h.matched {
				if err := o.emitB(h.t, h.v, out); err != nil {
					return err
				}
			}
			n++
		}
		ks.bs = dropFront(ks.bs, n)
		o.size -= n
		if n > 0 && len(ks.bs) > 0 {
			o.expB.push(expiry[K]{at: ks.bs[0].t.Add(-o.lower), key: k})
		}
		o.forget(k, ks)
	}
	return nil
}

func (o *intervalOp[A, B, K, Out]) forget(k K, ks *keyState[A, B]) {
	if len(ks.as) == 0 && len(ks.bs) == 0 {
		delete(o.keys, k)
	}
}

// dropFront removes the first n elements of s, moving the rest to the front
// so the slice keeps its capacity (reslicing from the front would make every
// later append reallocate), and clearing the vacated tail so values can be
// collected.
func dropFront[V any](s []held[V], n int) []held[V] {
	if n == 0 {
		return s
	}
	m := copy(s, s[n:])
	clear(s[m:])
	return s[:m]
}

// expiry says that key may hold records to drop once the watermark reaches at.
type expiry[K any] struct {
	at  stream.Time
	key K
}

// expiryHeap is a binary min-heap on at (container/heap would box every
// entry into an interface).
type expiryHeap[K any] struct{ h []expiry[K] }

func (e *expiryHeap[K]) len() int       { return len(e.h) }
func (e *expiryHeap[K]) min() expiry[K] { return e.h[0] }
func (e *expiryHeap[K]) push(x expiry[K]) {
	e.h = append(e.h, x)
	i := len(e.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if e.h[p].at <= x.at {
			break
		}
		e.h[i] = e.h[p]
		i = p
	}
	e.h[i] = x
}

func (e *expiryHeap[K]) pop() expiry[K] {
	top := e.h[0]
	last := len(e.h) - 1
	x := e.h[last]
	var zero expiry[K]
	e.h[last] = zero
	e.h = e.h[:last]
	if last == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= last {
			break
		}
		if c+1 < last && e.h[c+1].at < e.h[c].at {
			c++
		}
		if x.at <= e.h[c].at {
			break
		}
		e.h[i] = e.h[c]
		i = c
	}
	e.h[i] = x
	return top
}

// intervalState is the checkpointed state of an interval join instance.
type intervalState[A, B any, K comparable] struct {
	Keys []K
	As   [][]heldState[A]
	Bs   [][]heldState[B]
}

type heldState[V any] struct {
	T       stream.Time
	V       V
	Matched bool
}

// SnapshotKeyGroup encodes the records the instance holds for the keys of
// key group g in the library's state codec: keys and values through
// [codec.For] (compact for basic types and BinaryMarshalers, else
// encoding/gob, so other types must be gob-encodable when checkpoints are
// on). It implements
// [stream.KeyGroupSnapshotter]: the runtime asks for the instance's groups
// in increasing order, so the first call of a checkpoint splits the state
// in one pass and the others hand out what it made.
func (o *intervalOp[A, B, K, Out]) SnapshotKeyGroup(g int) ([]byte, error) {
	if o.groupSnaps == nil || g <= o.lastSnapGroup {
		states := map[int]*intervalState[A, B, K]{}
		for k, ks := range o.keys {
			kg := o.group(k)
			st := states[kg]
			if st == nil {
				st = &intervalState[A, B, K]{}
				states[kg] = st
			}
			st.Keys = append(st.Keys, k)
			st.As = append(st.As, heldStates(ks.as))
			st.Bs = append(st.Bs, heldStates(ks.bs))
		}
		o.groupSnaps = make(map[int][]byte, len(states))
		for kg, st := range states {
			b, err := encodeInterval(st)
			if err != nil {
				o.groupSnaps = nil
				return nil, err
			}
			o.groupSnaps[kg] = b
		}
	}
	o.lastSnapGroup = g
	b := o.groupSnaps[g]
	delete(o.groupSnaps, g)
	return b, nil
}

// intervalVersion is the first byte of an interval join's key group state.
const intervalVersion = 1

// encodeInterval writes st: the version, then per key the key and its held
// a and b records (time, value, matched). A key or value the codec cannot
// encode (a gob fallback of a type with no exported fields) fails it.
func encodeInterval[A, B any, K comparable](st *intervalState[A, B, K]) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("snapshot of interval join state: %v", r)
		}
	}()
	kc, ac, bc := codec.For[K](), codec.For[A](), codec.For[B]()
	e := codec.NewEncoder(nil)
	e.Byte(intervalVersion)
	e.Uint(uint64(len(st.Keys)))
	for i, k := range st.Keys {
		kc.Append(e, k)
		appendHeld(e, ac, st.As[i])
		appendHeld(e, bc, st.Bs[i])
	}
	return e.Data(), nil
}

func appendHeld[V any](e *codec.Encoder, c codec.Codec[V], hs []heldState[V]) {
	e.Uint(uint64(len(hs)))
	for _, h := range hs {
		e.Int(int64(h.T))
		c.Append(e, h.V)
		e.Bool(h.Matched)
	}
}

// decodeHeld reads what appendHeld wrote; the count is bounded by the bytes
// left.
func decodeHeld[V any](d *codec.Decoder, c codec.Codec[V]) []heldState[V] {
	n := d.Count()
	if n == 0 {
		return nil
	}
	hs := make([]heldState[V], n)
	for i := range hs {
		hs[i].T = stream.Time(d.Int())
		hs[i].V = c.Decode(d)
		hs[i].Matched = d.Bool()
		if d.Err() != nil {
			return nil
		}
	}
	return hs
}

// decodeInterval reads a state encodeInterval wrote; damaged input fails
// with an error wrapping [stream.ErrCorruptCheckpoint].
func decodeInterval[A, B any, K comparable](b []byte) (*intervalState[A, B, K], error) {
	kc, ac, bc := codec.For[K](), codec.For[A](), codec.For[B]()
	d := codec.NewDecoder(b, "interval join state")
	d.Version(intervalVersion)
	var st intervalState[A, B, K]
	if n := d.Count(); n > 0 {
		st.Keys = make([]K, 0, n)
		st.As = make([][]heldState[A], 0, n)
		st.Bs = make([][]heldState[B], 0, n)
		for range n {
			k := kc.Decode(d)
			as := decodeHeld(d, ac)
			bs := decodeHeld(d, bc)
			if d.Err() != nil {
				break
			}
			st.Keys, st.As, st.Bs = append(st.Keys, k), append(st.As, as), append(st.Bs, bs)
		}
	}
	if err := d.Finish(); err != nil {
		return nil, err // wraps stream.ErrCorruptCheckpoint (codec.ErrCorrupt)
	}
	return &st, nil
}

func heldStates[V any](hs []held[V]) []heldState[V] {
	out := make([]heldState[V], len(hs))
	for i, h := range hs {
		out[i] = heldState[V]{T: h.t, V: h.v, Matched: h.matched}
	}
	return out
}

// RestoreKeyGroup adds the records of key group g from a checkpoint, before
// the instance opens (at any parallelism: the groups of an instance may come
// from several instances of the run that wrote it).
func (o *intervalOp[A, B, K, Out]) RestoreKeyGroup(_ int, b []byte) error {
	st, err := decodeInterval[A, B, K](b)
	if err != nil {
		return err
	}
	if o.keys == nil {
		o.keys = make(map[K]*keyState[A, B], len(st.Keys))
	}
	for i, k := range st.Keys {
		ks := &keyState[A, B]{}
		for _, h := range st.As[i] {
			ks.as = insertHeld(ks.as, held[A]{t: h.T, v: h.V, matched: h.Matched})
			o.expA.push(expiry[K]{at: h.T.Add(o.upper), key: k})
		}
		for _, h := range st.Bs[i] {
			ks.bs = insertHeld(ks.bs, held[B]{t: h.T, v: h.V, matched: h.Matched})
			o.expB.push(expiry[K]{at: h.T.Add(-o.lower), key: k})
		}
		if n := len(ks.as) + len(ks.bs); n > 0 {
			o.keys[k] = ks
			o.size += n
		}
	}
	o.max = max(o.max, o.size)
	return nil
}

var _ stream.KeyGroupSnapshotter = (*intervalOp[int, int, int, int])(nil)
