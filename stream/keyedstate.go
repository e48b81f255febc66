package stream

import (
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/brook-streams/brook/stream/codec"
)

// Keyed state is the state a [KeyedProcess] function keeps per key. The
// function declares its states once per instance, in its setup function,
// with [NewValueState], [NewMapState] and [NewListState]; each handle then
// reads and writes the state of the current key: the key of the record
// being processed, or of the timer firing. No lookup by key is written by
// the user, and no state of another key is reachable.
//
// The state is kept by the instance's keyed state backend ([StateBackend]).
// The default, [InMemory], keeps it in memory: a directory of the keys of
// each key group, giving each key a slot, and one column per declared state
// indexed by slot, so that a record costs one lookup of its key whatever the
// number of states, and a value state of a fixed-size type costs no
// allocation. A key's slot is freed when all its states are empty (its
// timers do not hold it). [StoredIn] keeps it in a [StateStore] of bytes
// instead (a disk or remote store), loading a key's states into one slot
// for each callback and writing them back when they changed. At a checkpoint each key group's keys, states and
// timers are encoded on their own (with [codec.For] of each type unless
// [StateCodec] gives one), so a checkpoint restores at any parallelism up to
// the pipeline's maximum parallelism. A state with a time to live
// ([StateTTL]) keeps each value's expiry beside it, in checkpoints too.

// KeyedStates is where a [KeyedProcess] function declares its per-key
// states (see [NewValueState]); it belongs to one operator instance.
type KeyedStates struct {
	dir     keyDirectory
	cols    []stateColumn
	names   map[string]bool
	slot    int32 // the current key's slot; -1 if it has none yet
	active  bool  // a current key is set (inside Process or OnTimer)
	live    []int32
	n       int // slots allocated in every column
	started bool

	ttls    []*ttlState
	evNow   Time // the current callback's event-time TTL time
	procNow Time // its processing-time one, once read (procOK)
	procOK  bool
	clock   Clock
	procTTL bool // a processing-time TTL entry was queued: arm the runtime timer
	dirty   bool // the current key's state changed (for a store backend)
	single  bool // one slot, loaded per key from a store: no TTL queue
}

// ttlNow returns the current callback's TTL time in domain d.
func (s *KeyedStates) ttlNow(d TimeDomain) Time {
	if d == EventTime {
		return s.evNow
	}
	if !s.procOK {
		c := s.clock
		if c == nil {
			c = SystemClock{}
		}
		s.procNow, s.procOK = TimeOf(c.Now()), true
	}
	return s.procNow
}

// keyDirectory gives the current key a slot and takes it back: the
// key-typed part of the backend.
type keyDirectory interface {
	// create gives the current key a slot and returns it.
	create() int32
	// release frees slot, whose states are all empty.
	release(slot int32)
}

// stateColumn is one declared state across all slots.
type stateColumn interface {
	stateName() string
	kind() byte
	grow(n int)
	has(slot int32) bool
	// clear empties slot without counting (its key is gone).
	clear(slot int32)
	encode(e *codec.Encoder, slot int32)
	// decode reads a value into slot, counting it live when not empty.
	decode(d *codec.Decoder, slot int32)
	// drop empties slot, counting it (the value expired).
	drop(slot int32)
	// ttlState returns the state's TTL bookkeeping, nil without a TTL.
	ttlState() *ttlState
}

const (
	kindValue byte = 1
	kindMap   byte = 2
	kindList  byte = 3
)

func (s *KeyedStates) declare(c stateColumn) {
	if s.started {
		panic("stream: keyed state declared after the operator started (declare states in the setup function)")
	}
	if s.names == nil {
		s.names = map[string]bool{}
	}
	if s.names[c.stateName()] {
		panic(fmt.Sprintf("stream: keyed state %q declared twice", c.stateName()))
	}
	s.names[c.stateName()] = true
	c.grow(s.n)
	s.cols = append(s.cols, c)
}

// cur returns the current key's slot, or -1; it panics outside a callback.
func (s *KeyedStates) cur() int32 {
	if !s.active {
		panic("stream: keyed state used outside Process or OnTimer")
	}
	return s.slot
}

// ensure returns the current key's slot, giving it one if needed.
func (s *KeyedStates) ensure() int32 {
	s.dirty = true
	if sl := s.cur(); sl >= 0 {
		return sl
	}
	s.slot = s.dir.create()
	return s.slot
}

// alloc makes room for slot in every column.
func (s *KeyedStates) alloc(slot int32) {
	if int(slot) < s.n {
		return
	}
	n := max(16, 2*s.n, int(slot)+1)
	for _, c := range s.cols {
		c.grow(n)
	}
	s.live = append(s.live, make([]int32, n-len(s.live))...)
	s.n = n
}

// filled counts a state of slot that became non-empty.
func (s *KeyedStates) filled(slot int32) { s.live[slot]++ }

// emptied counts a state of slot that became empty, freeing the slot when
// it was the last.
func (s *KeyedStates) emptied(slot int32) {
	s.dirty = true
	if s.live[slot]--; s.live[slot] == 0 {
		s.dir.release(slot)
		if s.slot == slot {
			s.slot = -1
		}
	}
}

// StateOption configures a keyed state of values of type V: [StateCodec],
// [StateTTL].
type StateOption[V any] func(*stateConfig[V])

type stateConfig[V any] struct {
	codec codec.Codec[V]
	ttl   *TTL
}

// StateCodec makes a state encode its values with c in checkpoints instead
// of [codec.For]'s choice (gob for most struct types).
func StateCodec[V any](c codec.Codec[V]) StateOption[V] {
	return func(sc *stateConfig[V]) { sc.codec = c }
}

func stateOptions[V any](opts []StateOption[V]) stateConfig[V] {
	var c stateConfig[V]
	for _, o := range opts {
		o(&c)
	}
	if c.codec == nil {
		c.codec = codec.For[V]()
	}
	return c
}

// ValueState is a keyed state holding one value of type V per key. Its
// methods act on the current key and may only be called from the
// [KeyedFuncs] callbacks.
type ValueState[V any] struct {
	s     *KeyedStates
	name  string
	codec codec.Codec[V]
	ttl   *ttlState
	vals  []V
	set   []bool
}

// NewValueState declares a value state named name (unique in the operator:
// it keys the state in checkpoints).
func NewValueState[V any](st *KeyedStates, name string, opts ...StateOption[V]) *ValueState[V] {
	c := stateOptions(opts)
	v := &ValueState[V]{s: st, name: name, codec: c.codec}
	v.ttl = newTTLState(st, v, c.ttl)
	st.declare(v)
	return v
}

// Value returns the current key's value, and whether it has one (an
// expired value is not returned: see [StateTTL]).
func (v *ValueState[V]) Value() (V, bool) {
	sl := v.s.cur()
	if sl < 0 || !v.set[sl] {
		var zero V
		return zero, false
	}
	if t := v.ttl; t != nil {
		if t.expired(sl) {
			v.drop(sl)
			var zero V
			return zero, false
		}
		if t.onRead {
			t.touch(sl, false)
		}
	}
	return v.vals[sl], true
}

// Update sets the current key's value.
func (v *ValueState[V]) Update(x V) {
	sl := v.s.ensure()
	fresh := !v.set[sl]
	if !fresh && v.ttl != nil && v.ttl.expired(sl) {
		fresh = true
	}
	if !v.set[sl] {
		v.set[sl] = true
		v.s.filled(sl)
	}
	v.vals[sl] = x
	if v.ttl != nil {
		v.ttl.touch(sl, fresh)
	}
}

// Clear removes the current key's value.
func (v *ValueState[V]) Clear() {
	sl := v.s.cur()
	if sl < 0 || !v.set[sl] {
		return
	}
	var zero V
	v.vals[sl], v.set[sl] = zero, false
	v.s.emptied(sl)
}

func (v *ValueState[V]) stateName() string   { return v.name }
func (v *ValueState[V]) kind() byte          { return kindValue }
func (v *ValueState[V]) has(sl int32) bool   { return v.set[sl] }
func (v *ValueState[V]) ttlState() *ttlState { return v.ttl }
func (v *ValueState[V]) drop(sl int32)       { v.clear(sl); v.s.emptied(sl) }
func (v *ValueState[V]) grow(n int) {
	v.vals = append(v.vals, make([]V, n-len(v.vals))...)
	v.set = append(v.set, make([]bool, n-len(v.set))...)
	if v.ttl != nil {
		v.ttl.grow(n)
	}
}

func (v *ValueState[V]) clear(sl int32) {
	var zero V
	v.vals[sl], v.set[sl] = zero, false
}

func (v *ValueState[V]) encode(e *codec.Encoder, sl int32) { v.codec.Append(e, v.vals[sl]) }
func (v *ValueState[V]) decode(d *codec.Decoder, sl int32) {
	x := v.codec.Decode(d)
	if d.Err() != nil {
		return
	}
	if !v.set[sl] {
		v.set[sl] = true
		v.s.filled(sl)
	}
	v.vals[sl] = x
}

// MapState is a keyed state holding a map from MK to MV per key. Its
// methods act on the current key and may only be called from the
// [KeyedFuncs] callbacks.
type MapState[MK comparable, MV any] struct {
	s      *KeyedStates
	name   string
	kcodec codec.Codec[MK]
	vcodec codec.Codec[MV]
	ttl    *ttlState
	maps   []map[MK]MV
}

// NewMapState declares a map state named name (unique in the operator). Its
// keys are encoded with [codec.For]; opts configure its values.
func NewMapState[MK comparable, MV any](st *KeyedStates, name string, opts ...StateOption[MV]) *MapState[MK, MV] {
	c := stateOptions(opts)
	m := &MapState[MK, MV]{s: st, name: name, kcodec: codec.For[MK](), vcodec: c.codec}
	m.ttl = newTTLState(st, m, c.ttl)
	st.declare(m)
	return m
}

// cur returns the current key's map, dropping it if it expired.
func (m *MapState[MK, MV]) cur() map[MK]MV {
	sl := m.s.cur()
	if sl < 0 {
		return nil
	}
	if t := m.ttl; t != nil && len(m.maps[sl]) > 0 {
		if t.expired(sl) {
			m.drop(sl)
			return nil
		}
		if t.onRead {
			t.touch(sl, false)
		}
	}
	return m.maps[sl]
}

// Get returns the current key's value for mk, and whether there is one.
func (m *MapState[MK, MV]) Get(mk MK) (MV, bool) {
	v, ok := m.cur()[mk]
	return v, ok
}

// Put sets the current key's value for mk.
func (m *MapState[MK, MV]) Put(mk MK, v MV) {
	if m.ttl != nil {
		m.cur() // an expired map is dropped, not added to
	}
	sl := m.s.ensure()
	mp := m.maps[sl]
	if mp == nil {
		mp = map[MK]MV{}
		m.maps[sl] = mp
	}
	fresh := len(mp) == 0
	if fresh {
		m.s.filled(sl)
	}
	mp[mk] = v
	if m.ttl != nil {
		m.ttl.touch(sl, fresh)
	}
}

// Delete removes the current key's value for mk.
func (m *MapState[MK, MV]) Delete(mk MK) {
	mp := m.cur()
	sl := m.s.slot
	if _, ok := mp[mk]; !ok {
		return
	}
	delete(mp, mk)
	m.s.dirty = true
	if len(mp) == 0 {
		m.s.emptied(sl)
	}
}

// Len returns the number of entries of the current key.
func (m *MapState[MK, MV]) Len() int { return len(m.cur()) }

// All returns the current key's entries, in no particular order. The map
// must not be changed during the iteration.
func (m *MapState[MK, MV]) All() iter.Seq2[MK, MV] { return maps.All(m.cur()) }

// Clear removes every entry of the current key.
func (m *MapState[MK, MV]) Clear() {
	sl := m.s.cur()
	if sl < 0 || len(m.maps[sl]) == 0 {
		return
	}
	m.drop(sl)
}

func (m *MapState[MK, MV]) stateName() string   { return m.name }
func (m *MapState[MK, MV]) kind() byte          { return kindMap }
func (m *MapState[MK, MV]) has(sl int32) bool   { return len(m.maps[sl]) > 0 }
func (m *MapState[MK, MV]) clear(sl int32)      { m.maps[sl] = nil }
func (m *MapState[MK, MV]) drop(sl int32)       { m.maps[sl] = nil; m.s.emptied(sl) }
func (m *MapState[MK, MV]) ttlState() *ttlState { return m.ttl }
func (m *MapState[MK, MV]) grow(n int) {
	m.maps = append(m.maps, make([]map[MK]MV, n-len(m.maps))...)
	if m.ttl != nil {
		m.ttl.grow(n)
	}
}
func (m *MapState[MK, MV]) encode(e *codec.Encoder, sl int32) {
	mp := m.maps[sl]
	e.Uint(uint64(len(mp)))
	for k, v := range mp {
		m.kcodec.Append(e, k)
		m.vcodec.Append(e, v)
	}
}

func (m *MapState[MK, MV]) decode(d *codec.Decoder, sl int32) {
	n := d.Count()
	if n == 0 {
		if d.Err() == nil {
			d.Fail("empty map state %q", m.name)
		}
		return
	}
	mp := make(map[MK]MV, n)
	for range n {
		k := m.kcodec.Decode(d)
		v := m.vcodec.Decode(d)
		if d.Err() != nil {
			return
		}
		mp[k] = v
	}
	if len(m.maps[sl]) == 0 {
		m.s.filled(sl)
	}
	m.maps[sl] = mp
}

// ListState is a keyed state holding a list of values of type V per key.
// Its methods act on the current key and may only be called from the
// [KeyedFuncs] callbacks.
type ListState[V any] struct {
	s     *KeyedStates
	name  string
	codec codec.Codec[V]
	ttl   *ttlState
	lists [][]V
}

// NewListState declares a list state named name (unique in the operator).
func NewListState[V any](st *KeyedStates, name string, opts ...StateOption[V]) *ListState[V] {
	c := stateOptions(opts)
	l := &ListState[V]{s: st, name: name, codec: c.codec}
	l.ttl = newTTLState(st, l, c.ttl)
	st.declare(l)
	return l
}

// Get returns the current key's list. It is the state's own storage: it is
// valid until the list is next changed, and must not be modified.
func (l *ListState[V]) Get() []V {
	sl := l.s.cur()
	if sl < 0 {
		return nil
	}
	if t := l.ttl; t != nil && len(l.lists[sl]) > 0 {
		if t.expired(sl) {
			l.drop(sl)
			return nil
		}
		if t.onRead {
			t.touch(sl, false)
		}
	}
	return l.lists[sl]
}

// Add appends v to the current key's list.
func (l *ListState[V]) Add(v V) {
	if l.ttl != nil {
		l.Get() // an expired list is dropped, not added to
	}
	sl := l.s.ensure()
	fresh := len(l.lists[sl]) == 0
	if fresh {
		l.s.filled(sl)
	}
	l.lists[sl] = append(l.lists[sl], v)
	if l.ttl != nil {
		l.ttl.touch(sl, fresh)
	}
}

// Update replaces the current key's list with a copy of vs.
func (l *ListState[V]) Update(vs []V) {
	if len(vs) == 0 {
		l.Clear()
		return
	}
	if l.ttl != nil {
		l.Get()
	}
	sl := l.s.ensure()
	fresh := len(l.lists[sl]) == 0
	if fresh {
		l.s.filled(sl)
	}
	l.lists[sl] = append(l.lists[sl][:0], vs...)
	if l.ttl != nil {
		l.ttl.touch(sl, fresh)
	}
}

// Clear empties the current key's list.
func (l *ListState[V]) Clear() {
	sl := l.s.cur()
	if sl < 0 || len(l.lists[sl]) == 0 {
		return
	}
	l.drop(sl)
}

func (l *ListState[V]) stateName() string   { return l.name }
func (l *ListState[V]) kind() byte          { return kindList }
func (l *ListState[V]) has(sl int32) bool   { return len(l.lists[sl]) > 0 }
func (l *ListState[V]) clear(sl int32)      { l.lists[sl] = nil }
func (l *ListState[V]) drop(sl int32)       { l.lists[sl] = nil; l.s.emptied(sl) }
func (l *ListState[V]) ttlState() *ttlState { return l.ttl }
func (l *ListState[V]) grow(n int) {
	l.lists = append(l.lists, make([][]V, n-len(l.lists))...)
	if l.ttl != nil {
		l.ttl.grow(n)
	}
}
func (l *ListState[V]) encode(e *codec.Encoder, sl int32) {
	e.Uint(uint64(len(l.lists[sl])))
	for _, v := range l.lists[sl] {
		l.codec.Append(e, v)
	}
}

func (l *ListState[V]) decode(d *codec.Decoder, sl int32) {
	n := d.Count()
	if n == 0 {
		if d.Err() == nil {
			d.Fail("empty list state %q", l.name)
		}
		return
	}
	vs := make([]V, 0, n)
	for range n {
		v := l.codec.Decode(d)
		if d.Err() != nil {
			return
		}
		vs = append(vs, v)
	}
	if len(l.lists[sl]) == 0 {
		l.s.filled(sl)
	}
	l.lists[sl] = vs
}

// memBackend is the in-memory keyed state backend of one instance: the key
// directory, by key group, of a KeyedStates.
type memBackend[K comparable] struct {
	st     *KeyedStates
	groups []map[K]int32 // by key group: key -> slot
	keys   []K           // by slot
	kgs    []int32       // by slot: the key's group
	free   []int32
	next   int32
	key    K   // the current key
	g      int // the current key's group
	// recent is, by key group, the two keys last found or created there
	// and their slots, while they have one: a lookup without hashing for
	// a group of one or two keys, or a group's key that comes in runs.
	recent [][2]recentKey[K]
}

type recentKey[K comparable] struct {
	k  K
	sl int32
	ok bool
}

func newMemBackend[K comparable](st *KeyedStates, maxPar int) *memBackend[K] {
	b := &memBackend[K]{st: st, groups: make([]map[K]int32, maxPar), recent: make([][2]recentKey[K], maxPar)}
	st.dir = b
	st.slot = -1
	return b
}

// setKey makes k, of group g, the current key.
func (b *memBackend[K]) setKey(k K, g int) {
	b.key, b.g = k, g
	r := &b.recent[g]
	if r[0].ok && r[0].k == k {
		b.st.slot, b.st.active = r[0].sl, true
		return
	}
	if r[1].ok && r[1].k == k {
		b.st.slot, b.st.active = r[1].sl, true
		return
	}
	sl, ok := b.groups[g][k]
	if ok {
		r[1], r[0] = r[0], recentKey[K]{k: k, sl: sl, ok: true}
	} else {
		sl = -1
	}
	b.st.slot, b.st.active = sl, true
}

func (b *memBackend[K]) unset() { b.st.active = false }

func (b *memBackend[K]) create() int32 {
	var sl int32
	if n := len(b.free); n > 0 {
		sl, b.free = b.free[n-1], b.free[:n-1]
	} else {
		sl = b.next
		b.next++
		b.st.alloc(sl)
		b.keys = append(b.keys, b.key)
		b.kgs = append(b.kgs, 0)
	}
	b.keys[sl], b.kgs[sl] = b.key, int32(b.g)
	m := b.groups[b.g]
	if m == nil {
		m = map[K]int32{}
		b.groups[b.g] = m
	}
	m[b.key] = sl
	r := &b.recent[b.g]
	r[1], r[0] = r[0], recentKey[K]{k: b.key, sl: sl, ok: true}
	return sl
}

func (b *memBackend[K]) release(sl int32) {
	g := b.kgs[sl]
	delete(b.groups[g], b.keys[sl])
	for i := range b.recent[g] {
		if r := &b.recent[g][i]; r.ok && r.sl == sl {
			r.ok = false
		}
	}
	var zero K
	b.keys[sl] = zero
	b.free = append(b.free, sl)
}

// The versions of a key group's snapshot: 2 adds, per state, whether it
// has a TTL, and then each value's expiry after it. Both restore.
const (
	keyedSnapV1      = 1
	keyedSnapVersion = 2
)

// snapshotHeader encodes the declared states, after the version.
func (st *KeyedStates) snapshotHeader(e *codec.Encoder) {
	e.Uint(uint64(len(st.cols)))
	for _, c := range st.cols {
		e.String(c.stateName())
		e.Byte(c.kind())
		e.Bool(c.ttlState() != nil)
	}
}

// encodeSlot encodes slot's states in declaration order: for each, whether
// it has a value, and the value and its expiry (with a TTL).
func (st *KeyedStates) encodeSlot(e *codec.Encoder, sl int32) {
	for _, c := range st.cols {
		if !c.has(sl) {
			e.Bool(false)
			continue
		}
		e.Bool(true)
		c.encode(e, sl)
		if t := c.ttlState(); t != nil {
			e.Int(int64(t.exp[sl]))
		}
	}
}

// snapCol is a state of a checkpoint's header: the declared state it
// restores into, and whether the checkpoint has expiries for it.
type snapCol struct {
	c   stateColumn
	ttl bool
}

// restoreHeader decodes a header of version v into the declared states.
func (st *KeyedStates) restoreHeader(d *codec.Decoder, v byte) []snapCol {
	n := d.Count()
	cols := make([]snapCol, 0, n)
	for range n {
		name, kind := d.String(), d.Byte()
		ttl := v >= 2 && d.Bool()
		if d.Err() != nil {
			return nil
		}
		i := slices.IndexFunc(st.cols, func(c stateColumn) bool { return c.stateName() == name })
		if i < 0 {
			d.Fail("state %q is in the checkpoint but not declared (declare it, or rename the operator to start fresh)", name)
			return nil
		}
		if st.cols[i].kind() != kind {
			d.Fail("state %q is of another kind in the checkpoint", name)
			return nil
		}
		if slices.ContainsFunc(cols, func(c snapCol) bool { return c.c == st.cols[i] }) {
			d.Fail("state %q twice in the checkpoint", name)
			return nil
		}
		cols = append(cols, snapCol{c: st.cols[i], ttl: ttl})
	}
	return cols
}

// decodeSlot decodes a key's states, encoded by encodeSlot under the
// header cols, into slot sl; false (with d failed) if it has none.
func (st *KeyedStates) decodeSlot(d *codec.Decoder, sl int32, cols []snapCol) bool {
	some := false
	for _, c := range cols {
		if !d.Bool() {
			continue
		}
		c.c.decode(d, sl)
		some = true
		var exp Time
		if c.ttl {
			exp = Time(d.Int())
		}
		if d.Err() != nil {
			return false
		}
		if t := c.c.ttlState(); t != nil {
			t.restored(sl, exp, c.ttl)
		}
	}
	if d.Err() == nil && (!some || st.live[sl] == 0) {
		d.Fail("key with no state")
	}
	return d.Err() == nil
}

// snapshotGroup encodes the states of group g's keys, after the version.
func (b *memBackend[K]) snapshotGroup(e *codec.Encoder, g int, kc codec.Codec[K]) {
	st := b.st
	st.snapshotHeader(e)
	m := b.groups[g]
	e.Uint(uint64(len(m)))
	// Keys in slot order: the same state encodes the same way.
	slots := slices.Sorted(maps.Values(m))
	for _, sl := range slots {
		kc.Append(e, b.keys[sl])
		st.encodeSlot(e, sl)
	}
}

// restoreGroup decodes what snapshotGroup wrote for group g, in a snapshot
// of version v.
func (b *memBackend[K]) restoreGroup(d *codec.Decoder, v byte, g int, kc codec.Codec[K], group func(K) int) {
	st := b.st
	cols := st.restoreHeader(d, v)
	keys := d.Count()
	st.active = true
	defer func() { st.active = false }()
	for range keys {
		k := kc.Decode(d)
		if d.Err() != nil {
			return
		}
		if kg := group(k); kg != g {
			d.Fail("key of group %d in group %d", kg, g)
			return
		}
		if _, dup := b.groups[g][k]; dup {
			d.Fail("key twice in group %d", g)
			return
		}
		b.setKey(k, g)
		sl := b.create()
		st.slot = sl
		if !st.decodeSlot(d, sl, cols) {
			return
		}
	}
}
