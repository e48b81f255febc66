package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream/codec"
)

// ttlCmd is an input of ttlProgram: "set" writes V to key K's TTL state,
// "get" emits what it reads, "timer" registers an event-time timer at V
// that emits what it reads and, for an even V, writes V.
type ttlCmd struct {
	K  int64
	Op string
	V  int64
}

type ttlProbe struct {
	fresh *ValueState[int64]
	m     *MapState[int64, int64]
	l     *ListState[int64]
}

func ttlProgram(ttl TTL, probe *ttlProbe) func(st *KeyedStates) KeyedFuncs[int64, ttlCmd, string] {
	return func(st *KeyedStates) KeyedFuncs[int64, ttlCmd, string] {
		probe.fresh = NewValueState(st, "fresh", StateTTL[int64](ttl))
		probe.m = NewMapState[int64](st, "map", StateTTL[int64](ttl))
		probe.l = NewListState(st, "list", StateTTL[int64](ttl))
		read := func(c *KeyedContext[int64], out Emitter[string], at Time) error {
			v, ok := probe.fresh.Value()
			return out.Emit(Record[string]{Time: at, Value: fmt.Sprintf("%d: %d %v map %d list %v", c.Key(), v, ok, probe.m.Len(), probe.l.Get())})
		}
		return KeyedFuncs[int64, ttlCmd, string]{
			Process: func(c *KeyedContext[int64], r Record[ttlCmd], out Emitter[string]) error {
				switch r.Value.Op {
				case "set":
					probe.fresh.Update(r.Value.V)
					probe.m.Put(r.Value.V, r.Value.V)
					probe.l.Add(r.Value.V)
				case "timer":
					c.RegisterEventTimer(Time(r.Value.V))
				case "get":
					return read(c, out, r.Time)
				}
				return nil
			},
			OnTimer: func(c *KeyedContext[int64], t Timer, out Emitter[string]) error {
				if err := read(c, out, t.Time); err != nil {
					return err
				}
				if t.Time%2 == 0 {
					probe.fresh.Update(int64(t.Time))
				}
				return nil
			},
		}
	}
}

type lineEmitter struct{ lines []string }

func (e *lineEmitter) Emit(r Record[string]) error { e.lines = append(e.lines, r.Value); return nil }

func (e *lineEmitter) take() []string { l := e.lines; e.lines = nil; return l }

func newTTLOp(t testing.TB, ttl TTL, probe *ttlProbe) *keyedOp[int64, ttlCmd, string] {
	h, err := StableHash[int64]()
	require.NoError(t, err)
	return newKeyedOp(func(c ttlCmd) int64 { return c.K }, func(k int64) int { return KeyGroupOf(h(k), 128) }, 128, InMemory(), ttlProgram(ttl, probe))
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) AfterFunc(time.Duration, func()) (stop func() bool) {
	return func() bool { return true }
}

func TestKeyedTTLInEventTime(t *testing.T) {
	t.Parallel()
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: 10}, probe)
	out := &lineEmitter{}
	rec := func(at Time, op string, k, v int64) {
		t.Helper()
		require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: at, Value: ttlCmd{K: k, Op: op, V: v}}, out))
	}
	wm := func(w Time) { t.Helper(); require.NoError(t, o.ProcessWatermark(w, out)) }

	rec(100, "set", 1, 7) // lives until 110
	rec(109, "get", 1, 0)
	rec(110, "get", 1, 0) // expired for a record at 110, and dropped
	assert.Equal(t, []string{"1: 7 true map 1 list [7]", "1: 0 false map 0 list []"}, out.take())
	assert.Zero(t, o.mem.keyCount(), "read as expired, the key's states are gone")

	// A later write refreshes; an earlier (out-of-order) one never shortens.
	rec(100, "set", 2, 1)
	rec(105, "set", 2, 2)
	rec(101, "set", 2, 3)
	rec(114, "get", 2, 0)
	rec(115, "get", 2, 0)
	assert.Equal(t, []string{"2: 3 true map 3 list [1 2 3]", "2: 0 false map 0 list []"}, out.take())

	// A record behind the watermark writes at the watermark's time.
	wm(200)
	rec(150, "set", 3, 4) // lives until 210
	rec(209, "get", 3, 0)
	assert.Equal(t, []string{"3: 4 true map 1 list [4]"}, out.take())
	// Expired by the watermark, it is deleted without being read.
	require.Equal(t, 1, o.mem.keyCount())
	wm(209)
	assert.Equal(t, 1, o.mem.keyCount(), "not expired yet")
	wm(210)
	assert.Zero(t, o.mem.keyCount(), "the watermark's cleanup deletes the expired key")

	// Timers behind the watermark count from the watermark they were
	// registered behind: the write of the timer at 150 lives until 220, so
	// the timer at 215 sees it.
	rec(300, "timer", 4, 150)
	rec(300, "timer", 4, 215)
	wm(300)
	assert.Equal(t, []string{"4: 0 false map 0 list []", "4: 150 true map 0 list []"}, out.take())
	wm(400)
	assert.Zero(t, o.mem.keyCount())
	assert.Zero(t, o.event.live)
}

// The watermark restored with the checkpoint is the TTL time of late
// records after the restore, as it was before.
func TestKeyedTTLCountsFromTheRestoredWatermark(t *testing.T) {
	t.Parallel()
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: 10}, probe)
	c := &Context{wm: 200, t: &task{clock: &fakeClock{}}}
	require.NoError(t, o.Open(c))
	out := &lineEmitter{}
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 150, Value: ttlCmd{K: 1, Op: "set", V: 5}}, out))
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 205, Value: ttlCmd{K: 1, Op: "get"}}, out))
	assert.Equal(t, []string{"1: 5 true map 1 list [5]"}, out.take())
}

func TestKeyedTTLUpdatedOnRead(t *testing.T) {
	t.Parallel()
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: 10, OnRead: true}, probe)
	out := &lineEmitter{}
	for _, at := range []Time{100, 109, 118, 127} { // each read 9 after the last access
		require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: at, Value: ttlCmd{K: 1, Op: map[bool]string{true: "set", false: "get"}[at == 100], V: 1}}, out))
	}
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 137, Value: ttlCmd{K: 1, Op: "get"}}, out))
	assert.Equal(t, []string{"1: 1 true map 1 list [1]", "1: 1 true map 1 list [1]", "1: 1 true map 1 list [1]", "1: 0 false map 0 list []"}, out.take())
}

func TestKeyedTTLInProcessingTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: start}
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: time.Minute, Domain: ProcessingTime}, probe)
	require.NoError(t, o.Open(&Context{wm: MinTime, t: &task{clock: clk}}))
	out := &lineEmitter{}
	rec := func(op string, k int64) {
		t.Helper()
		require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Value: ttlCmd{K: k, Op: op, V: 1}}, out))
	}
	rec("set", 1)
	assert.True(t, o.procArmed, "a runtime timer for the expiry")
	assert.Equal(t, TimeOf(start.Add(time.Minute)), o.procAt)
	clk.now = start.Add(30 * time.Second)
	rec("set", 2)
	rec("get", 1)
	assert.Equal(t, []string{"1: 1 true map 1 list [1]"}, out.take())
	// The runtime timer at +1m deletes key 1 only.
	clk.now = start.Add(time.Minute)
	require.NoError(t, o.OnTimer(clk.now, out))
	assert.Equal(t, 1, o.mem.keyCount())
	assert.True(t, o.procArmed)
	assert.Equal(t, TimeOf(start.Add(90*time.Second)), o.procAt, "armed again for key 2")
	rec("get", 2)
	clk.now = start.Add(90 * time.Second)
	rec("get", 2)
	assert.Equal(t, []string{"2: 1 true map 1 list [1]", "2: 0 false map 0 list []"}, out.take())
	// Watermarks do not expire processing-time state.
	rec("set", 3)
	require.NoError(t, o.ProcessWatermark(MaxTime, out))
	assert.Equal(t, 1, o.mem.keyCount())
}

// TestKeyedTTLQueueStaysBounded: keys written over and over, and keys
// coming and going in reused slots, keep the cleanup queue at about one
// entry per key with a value; every expired key is deleted.
func TestKeyedTTLQueueStaysBounded(t *testing.T) {
	t.Parallel()
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: 50}, probe)
	out := &lineEmitter{}
	for i := range int64(20_000) {
		k := i % 100
		if i%1000 >= 500 {
			k = 100 + i%1000 // keys that come and go
		}
		require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: Time(i - i%7), Value: ttlCmd{K: k, Op: "set", V: i}}, out))
		if i%10 == 0 {
			require.NoError(t, o.ProcessWatermark(Time(i-20), out))
		}
		for _, ts := range o.st.ttls {
			require.LessOrEqual(t, len(ts.heap), 2*o.mem.keyCount()+64, "record %d", i)
		}
	}
	require.NoError(t, o.ProcessWatermark(MaxTime, out))
	assert.Zero(t, o.mem.keyCount())
	for _, ts := range o.st.ttls {
		assert.Empty(t, ts.heap)
	}
}

// TestKeyedTTLRestores: expiries travel with their key group; a checkpoint
// of version 1 (no TTL) restores into a TTL state, its values counting as
// written at the first watermark.
func TestKeyedTTLRestores(t *testing.T) {
	t.Parallel()
	probe := &ttlProbe{}
	o := newTTLOp(t, TTL{After: 10}, probe)
	out := &lineEmitter{}
	for k := range int64(6) {
		require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: Time(100 + k), Value: ttlCmd{K: k, Op: "set", V: k}}, out))
	}
	groups := map[int][]byte{}
	for g := range 128 {
		b, err := o.SnapshotKeyGroup(g)
		require.NoError(t, err)
		if b != nil {
			require.Equal(t, byte(keyedSnapVersion), b[0])
			groups[g] = b
		}
	}
	r := newTTLOp(t, TTL{After: 10}, &ttlProbe{})
	for g, b := range groups {
		require.NoError(t, r.RestoreKeyGroup(g, b))
	}
	require.NoError(t, r.ProcessWatermark(105, out)) // keys 0-5 expire at 110-115
	for k := range int64(6) {
		require.NoError(t, r.ProcessRecord(Record[ttlCmd]{Time: 112, Value: ttlCmd{K: k, Op: "get"}}, out))
	}
	assert.Equal(t, []string{"0: 0 false map 0 list []", "1: 0 false map 0 list []", "2: 0 false map 0 list []",
		"3: 3 true map 1 list [3]", "4: 4 true map 1 list [4]", "5: 5 true map 1 list [5]"}, out.take())

	// Restored into a state without TTL, the values never expire.
	noTTL := newKeyedOp(o.key, o.group, 128, InMemory(), func(st *KeyedStates) KeyedFuncs[int64, ttlCmd, string] {
		NewValueState[int64](st, "fresh")
		NewMapState[int64, int64](st, "map")
		NewListState[int64](st, "list")
		return KeyedFuncs[int64, ttlCmd, string]{Process: func(*KeyedContext[int64], Record[ttlCmd], Emitter[string]) error { return nil }}
	})
	for g, b := range groups {
		require.NoError(t, noTTL.RestoreKeyGroup(g, b))
	}
	require.NoError(t, noTTL.ProcessWatermark(MaxTime-1, out))
	assert.Equal(t, 6, noTTL.mem.keyCount())

	// Version 1: no TTL flags, no expiries.
	k := int64(9)
	var e codec.Encoder
	e.Byte(keyedSnapV1)
	e.Uint(1)
	e.String("fresh")
	e.Byte(kindValue)
	e.Uint(1)
	e.Int(k)
	e.Bool(true)
	e.Int(42)
	e.Uint(0) // event timers
	e.Uint(0) // processing timers
	v1 := newTTLOp(t, TTL{After: 10}, &ttlProbe{})
	require.NoError(t, v1.RestoreKeyGroup(o.group(k), e.Data()))
	require.NoError(t, v1.ProcessWatermark(500, out)) // counts from here: lives until 510
	require.NoError(t, v1.ProcessRecord(Record[ttlCmd]{Time: 509, Value: ttlCmd{K: k, Op: "get"}}, out))
	require.NoError(t, v1.ProcessWatermark(510, out))
	assert.Equal(t, []string{"9: 42 true map 0 list []"}, out.take())
	assert.Zero(t, v1.mem.keyCount(), "expired at 510")
}

// A value state with an event-time TTL costs no allocation per record once
// the keys are known, its cleanup at each watermark included.
func TestKeyedTTLAllocatesNothingPerRecord(t *testing.T) {
	h, err := StableHash[int64]()
	require.NoError(t, err)
	o := newKeyedOp(func(v int64) int64 { return v % 10 }, func(k int64) int { return KeyGroupOf(h(k), 128) }, 128, InMemory(),
		func(st *KeyedStates) KeyedFuncs[int64, int64, int64] {
			cnt := NewValueState(st, "count", StateTTL[int64](TTL{After: 30}))
			return KeyedFuncs[int64, int64, int64]{
				Process: func(c *KeyedContext[int64], r Record[int64], out Emitter[int64]) error {
					n, _ := cnt.Value()
					cnt.Update(n + 1)
					if c.Key() < 5 { // the others expire, and come back
						c.RegisterEventTimer(r.Time/100*100 + 99)
					}
					return nil
				},
				OnTimer: func(c *KeyedContext[int64], t Timer, out Emitter[int64]) error {
					n, _ := cnt.Value()
					return out.Emit(Record[int64]{Time: t.Time, Value: n})
				},
			}
		})
	out := &nopEmitter[int64]{}
	i := int64(0)
	step := func() {
		for range 1000 {
			// Keys 5-9 come every 50 records only: they expire between.
			if k := i % 10; k < 5 || i%100 < 10 {
				_ = o.ProcessRecord(Record[int64]{Time: Time(i), Value: i}, out)
			}
			i++
			if i%50 == 0 {
				_ = o.ProcessWatermark(Time(i-1), out)
			}
		}
	}
	step()
	step()
	assert.Zero(t, testing.AllocsPerRun(20, step))
	assert.Positive(t, out.n)
}

// mapStore is a StateStore in a map, for the internal tests.
type mapStore map[string][]byte

func (m mapStore) Get(g int, key []byte) ([]byte, bool, error) {
	v, ok := m[fmt.Sprint(g, string(key))]
	return v, ok, nil
}

func (m mapStore) Put(g int, key, value []byte) error {
	m[fmt.Sprint(g, string(key))] = append([]byte(nil), value...)
	return nil
}

func (m mapStore) Delete(g int, key []byte) error { delete(m, fmt.Sprint(g, string(key))); return nil }

func (m mapStore) Scan(g int, fn func(key, value []byte) error) error {
	for k, v := range m {
		var kg int
		var key string
		if _, err := fmt.Sscan(k, &kg, &key); err != nil || kg != g {
			continue
		}
		if err := fn([]byte(key), v); err != nil {
			return err
		}
	}
	return nil
}

// A store keeps expired values until their key is read, but leaves them
// out of checkpoints.
func TestKeyedTTLInAStoreLeavesExpiredValuesOutOfCheckpoints(t *testing.T) {
	t.Parallel()
	store := mapStore{}
	h, err := StableHash[int64]()
	require.NoError(t, err)
	group := func(k int64) int { return KeyGroupOf(h(k), 128) }
	o := newKeyedOp(func(c ttlCmd) int64 { return c.K }, group, 128,
		StoredIn(func(StoreInfo) (StateStore, error) { return store, nil }), ttlProgram(TTL{After: 10}, &ttlProbe{}))
	require.NoError(t, o.Open(&Context{wm: MinTime, parallelism: 1, maxPar: 128, t: &task{clock: &fakeClock{}}}))
	out := &lineEmitter{}
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 100, Value: ttlCmd{K: 1, Op: "set", V: 5}}, out))
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 120, Value: ttlCmd{K: 2, Op: "set", V: 6}}, out))
	require.Len(t, store, 2)
	require.NoError(t, o.ProcessWatermark(115, out))
	assert.Len(t, store, 2, "the store is not scanned at watermarks")
	require.NotEqual(t, group(1), group(2))
	b, err := o.SnapshotKeyGroup(group(1))
	require.NoError(t, err)
	assert.Nil(t, b, "key 1 expired at 110")
	b, err = o.SnapshotKeyGroup(group(2))
	require.NoError(t, err)
	assert.NotNil(t, b)
	require.NoError(t, o.ProcessRecord(Record[ttlCmd]{Time: 116, Value: ttlCmd{K: 1, Op: "get"}}, out))
	assert.Equal(t, []string{"1: 0 false map 0 list []"}, out.take())
	assert.Len(t, store, 1, "read as expired, key 1 is deleted from the store")
}
