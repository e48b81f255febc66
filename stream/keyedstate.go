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
// The state is kept by the instance's keyed state backend. The default (and
// for now the only) backend keeps it in memory: a directory of the keys of
// each key group, giving each key a slot, and one column per declared state
// indexed by slot, so that a record costs one lookup of its key whatever the
// number of states, and a value state of a fixed-size type costs no
// allocation. A key's slot is freed when all its states are empty (its
// timers do not hold it). At a checkpoint each key group's keys, states and
// timers are encoded on their own (with [codec.For] of each type unless
// [StateCodec] gives one), so a checkpoint restores at any parallelism up to
// the pipeline's maximum parallelism.

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
	if s.live[slot]--; s.live[slot] == 0 {
		s.dir.release(slot)
		if s.slot == slot {
			s.slot = -1
		}
	}
}

// StateOption configures a keyed state of values of type V: [StateCodec].
type StateOption[V any] func(*stateConfig[V])

type stateConfig[V any] struct {
	codec codec.Codec[V]
}

// StateCodec makes a state encode its values with c in checkpoints instead
// of [codec.For]'s choice (gob for most struct types).
func StateCodec[V any](c codec.Codec[V]) StateOption[V] {
	return func(sc *stateConfig[V]) { sc.codec = c }
}

func stateCodec[V any](opts []StateOption[V]) codec.Codec[V] {
	var c stateConfig[V]
	for _, o := range opts {
		o(&c)
	}
	if c.codec == nil {
		c.codec = codec.For[V]()
	}
	return c.codec
}

// ValueState is a keyed state holding one value of type V per key. Its
// methods act on the current key and may only be called from the
// [KeyedFuncs] callbacks.
type ValueState[V any] struct {
	s     *KeyedStates
	name  string
	codec codec.Codec[V]
	vals  []V
	set   []bool
}

// NewValueState declares a value state named name (unique in the operator:
// it keys the state in checkpoints).
func NewValueState[V any](st *KeyedStates, name string, opts ...StateOption[V]) *ValueState[V] {
	v := &ValueState[V]{s: st, name: name, codec: stateCodec(opts)}
	st.declare(v)
	return v
}

// Value returns the current key's value, and whether it has one.
func (v *ValueState[V]) Value() (V, bool) {
	sl := v.s.cur()
	if sl < 0 {
		var zero V
		return zero, false
	}
	return v.vals[sl], v.set[sl]
}

// Update sets the current key's value.
func (v *ValueState[V]) Update(x V) {
	sl := v.s.ensure()
	if !v.set[sl] {
		v.set[sl] = true
		v.s.filled(sl)
	}
	v.vals[sl] = x
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

func (v *ValueState[V]) stateName() string { return v.name }
func (v *ValueState[V]) kind() byte        { return kindValue }
func (v *ValueState[V]) has(sl int32) bool { return v.set[sl] }
func (v *ValueState[V]) grow(n int) {
	v.vals = append(v.vals, make([]V, n-len(v.vals))...)
	v.set = append(v.set, make([]bool, n-len(v.set))...)
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
	maps   []map[MK]MV
}

// NewMapState declares a map state named name (unique in the operator). Its
// keys are encoded with [codec.For]; opts configure its values.
func NewMapState[MK comparable, MV any](st *KeyedStates, name string, opts ...StateOption[MV]) *MapState[MK, MV] {
	m := &MapState[MK, MV]{s: st, name: name, kcodec: codec.For[MK](), vcodec: stateCodec(opts)}
	st.declare(m)
	return m
}

func (m *MapState[MK, MV]) cur() map[MK]MV {
	if sl := m.s.cur(); sl >= 0 {
		return m.maps[sl]
	}
	return nil
}

// Get returns the current key's value for mk, and whether there is one.
func (m *MapState[MK, MV]) Get(mk MK) (MV, bool) {
	v, ok := m.cur()[mk]
	return v, ok
}

// Put sets the current key's value for mk.
func (m *MapState[MK, MV]) Put(mk MK, v MV) {
	sl := m.s.ensure()
	mp := m.maps[sl]
	if mp == nil {
		mp = map[MK]MV{}
		m.maps[sl] = mp
	}
	if len(mp) == 0 {
		m.s.filled(sl)
	}
	mp[mk] = v
}

// Delete removes the current key's value for mk.
func (m *MapState[MK, MV]) Delete(mk MK) {
	sl := m.s.cur()
	if sl < 0 {
		return
	}
	mp := m.maps[sl]
	if _, ok := mp[mk]; !ok {
		return
	}
	delete(mp, mk)
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
	m.maps[sl] = nil
	m.s.emptied(sl)
}

func (m *MapState[MK, MV]) stateName() string { return m.name }
func (m *MapState[MK, MV]) kind() byte        { return kindMap }
func (m *MapState[MK, MV]) has(sl int32) bool { return len(m.maps[sl]) > 0 }
func (m *MapState[MK, MV]) grow(n int)        { m.maps = append(m.maps, make([]map[MK]MV, n-len(m.maps))...) }
func (m *MapState[MK, MV]) clear(sl int32)    { m.maps[sl] = nil }
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
	lists [][]V
}

// NewListState declares a list state named name (unique in the operator).
func NewListState[V any](st *KeyedStates, name string, opts ...StateOption[V]) *ListState[V] {
	l := &ListState[V]{s: st, name: name, codec: stateCodec(opts)}
	st.declare(l)
	return l
}

// Get returns the current key's list. It is the state's own storage: it is
// valid until the list is next changed, and must not be modified.
func (l *ListState[V]) Get() []V {
	if sl := l.s.cur(); sl >= 0 {
		return l.lists[sl]
	}
	return nil
}

// Add appends v to the current key's list.
func (l *ListState[V]) Add(v V) {
	sl := l.s.ensure()
	if len(l.lists[sl]) == 0 {
		l.s.filled(sl)
	}
	l.lists[sl] = append(l.lists[sl], v)
}

// Update replaces the current key's list with a copy of vs.
func (l *ListState[V]) Update(vs []V) {
	if len(vs) == 0 {
		l.Clear()
		return
	}
	sl := l.s.ensure()
	if len(l.lists[sl]) == 0 {
		l.s.filled(sl)
	}
	l.lists[sl] = append(l.lists[sl][:0], vs...)
}

// Clear empties the current key's list.
func (l *ListState[V]) Clear() {
	sl := l.s.cur()
	if sl < 0 || len(l.lists[sl]) == 0 {
		return
	}
	l.lists[sl] = nil
	l.s.emptied(sl)
}

func (l *ListState[V]) stateName() string { return l.name }
func (l *ListState[V]) kind() byte        { return kindList }
func (l *ListState[V]) has(sl int32) bool { return len(l.lists[sl]) > 0 }
func (l *ListState[V]) grow(n int)        { l.lists = append(l.lists, make([][]V, n-len(l.lists))...) }
func (l *ListState[V]) clear(sl int32)    { l.lists[sl] = nil }
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
}

func newMemBackend[K comparable](st *KeyedStates, maxPar int) *memBackend[K] {
	b := &memBackend[K]{st: st, groups: make([]map[K]int32, maxPar)}
	st.dir = b
	st.slot = -1
	return b
}

// setKey makes k, of group g, the current key.
func (b *memBackend[K]) setKey(k K, g int) {
	b.key, b.g = k, g
	sl, ok := b.groups[g][k]
	if !ok {
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
	return sl
}

func (b *memBackend[K]) release(sl int32) {
	delete(b.groups[b.kgs[sl]], b.keys[sl])
	var zero K
	b.keys[sl] = zero
	b.free = append(b.free, sl)
}

const keyedSnapVersion = 1

// snapshotGroup encodes the states of group g's keys, after the header.
func (b *memBackend[K]) snapshotGroup(e *codec.Encoder, g int, kc codec.Codec[K]) {
	st := b.st
	e.Uint(uint64(len(st.cols)))
	for _, c := range st.cols {
		e.String(c.stateName())
		e.Byte(c.kind())
	}
	m := b.groups[g]
	e.Uint(uint64(len(m)))
	// Keys in slot order: the same state encodes the same way.
	slots := slices.Sorted(maps.Values(m))
	for _, sl := range slots {
		kc.Append(e, b.keys[sl])
		for _, c := range st.cols {
			if c.has(sl) {
				e.Bool(true)
				c.encode(e, sl)
			} else {
				e.Bool(false)
			}
		}
	}
}

// restoreGroup decodes what snapshotGroup wrote for group g.
func (b *memBackend[K]) restoreGroup(d *codec.Decoder, g int, kc codec.Codec[K], group func(K) int) {
	st := b.st
	n := d.Count()
	cols := make([]stateColumn, 0, n)
	for range n {
		name, kind := d.String(), d.Byte()
		if d.Err() != nil {
			return
		}
		i := slices.IndexFunc(st.cols, func(c stateColumn) bool { return c.stateName() == name })
		if i < 0 {
			d.Fail("state %q is in the checkpoint but not declared (declare it, or rename the operator to start fresh)", name)
			return
		}
		if st.cols[i].kind() != kind {
			d.Fail("state %q is of another kind in the checkpoint", name)
			return
		}
		cols = append(cols, st.cols[i])
	}
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
		some := false
		for _, c := range cols {
			if d.Bool() {
				c.decode(d, sl)
				some = true
			}
			if d.Err() != nil {
				return
			}
		}
		if !some || st.live[sl] == 0 {
			d.Fail("key with no state in group %d", g)
			return
		}
	}
}
