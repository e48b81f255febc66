package stream

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type nopEmitter[T any] struct{ n int }

func (e *nopEmitter[T]) Emit(Record[T]) error { e.n++; return nil }

// counterProgram counts records per key and keeps one event-time timer per
// key, at the end of the record's 100 ns bucket, that emits and clears the
// count: the work of BenchmarkKeyedState.
func counterProgram(st *KeyedStates) KeyedFuncs[int64, int64, int64] {
	cnt := NewValueState[int64](st, "count")
	return KeyedFuncs[int64, int64, int64]{
		Process: func(c *KeyedContext[int64], r Record[int64], _ Emitter[int64]) error {
			n, _ := cnt.Value()
			cnt.Update(n + 1)
			c.RegisterEventTimer(r.Time/100*100 + 99)
			return nil
		},
		OnTimer: func(c *KeyedContext[int64], t Timer, out Emitter[int64]) error {
			n, _ := cnt.Value()
			cnt.Clear()
			return out.Emit(Record[int64]{Time: t.Time, Value: n})
		},
	}
}

func newCounterOp(t testing.TB) *keyedOp[int64, int64, int64] {
	h, err := StableHash[int64]()
	require.NoError(t, err)
	return newKeyedOp(func(v int64) int64 { return v % 10 }, func(k int64) int { return KeyGroupOf(h(k), 128) }, 128, InMemory(), counterProgram)
}

// TestKeyedStateAllocatesNothingPerRecord: a value state of a fixed-size
// type and an event-time timer per key cost no allocation per record once
// the keys are known, timers firing and keys coming back included.
func TestKeyedStateAllocatesNothingPerRecord(t *testing.T) {
	o := newCounterOp(t)
	out := &nopEmitter[int64]{}
	i := int64(0)
	step := func() {
		for range 1000 {
			_ = o.ProcessRecord(Record[int64]{Time: Time(i), Value: i}, out)
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

func TestKeyedSlotsAreFreedWithTheirState(t *testing.T) {
	o := newCounterOp(t)
	out := &nopEmitter[int64]{}
	for i := range int64(100) {
		require.NoError(t, o.ProcessRecord(Record[int64]{Time: 0, Value: i}, out))
	}
	assert.Equal(t, 10, o.mem.keyCount())
	assert.Equal(t, 10, o.event.live)
	require.NoError(t, o.ProcessWatermark(99, out))
	assert.Equal(t, 0, o.mem.keyCount(), "every count cleared by its timer")
	assert.Equal(t, 0, o.event.live)
	assert.Equal(t, 10, out.n)
	require.NoError(t, o.ProcessRecord(Record[int64]{Time: 100, Value: 3}, out))
	assert.Equal(t, 1, o.mem.keyCount())
	assert.Len(t, o.mem.free, 9, "the freed slots are reused")
}

func TestKeyedTimerQueueDedupsAndDeletes(t *testing.T) {
	q := newTimerQueue[string](4)
	assert.True(t, q.add(1, "a", 30))
	assert.False(t, q.add(1, "a", 30), "the same key and time twice")
	assert.True(t, q.add(2, "b", 30))
	assert.True(t, q.add(2, "b", 10))
	q.remove(1, "a", 30)
	assert.True(t, q.add(1, "a", 30), "registered again after its deletion")
	q.remove(2, "b", 10)
	var got []string
	for {
		e, ok := q.popDue(100)
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%s@%d", e.key, e.at))
	}
	assert.ElementsMatch(t, []string{"b@30", "a@30"}, got, "each live timer once")
	assert.Equal(t, MaxTime, q.top, "nothing due")
	assert.True(t, q.add(1, "a", 30), "registered again after it fired")
	assert.True(t, q.add(1, "c", 30), "a third key of the group")
	assert.True(t, q.add(1, "d", 20), "a fourth")
	assert.Equal(t, Time(20), q.top)
	assert.False(t, q.add(1, "a", 30), "still there behind two newer ones")
	for _, k := range []string{"a", "c"} {
		q.remove(1, k, 30)
		assert.True(t, q.add(1, k, 30), "%s registered again after its deletion", k)
		q.remove(1, k, 30)
	}
	e, ok := q.popDue(25)
	require.True(t, ok)
	assert.Equal(t, "d", e.key)
	_, ok = q.popDue(MaxTime)
	assert.False(t, ok, "the deleted ones do not fire")
	for i := range 200 {
		q.add(0, "k", Time(i))
	}
	for i := range 199 {
		q.remove(0, "k", Time(i))
	}
	assert.Less(t, len(q.heap), 200, "deleted timers' entries are compacted away")
	e, ok = q.popDue(MaxTime)
	require.True(t, ok)
	assert.Equal(t, Time(199), e.at)
	_, ok = q.popDue(MaxTime)
	assert.False(t, ok)
}

// snapshotAllGroups returns the key groups' states of o.
func snapshotAllGroups(t testing.TB, o *keyedOp[int64, int64, int64]) map[int][]byte {
	groups := map[int][]byte{}
	for g := range 128 {
		b, err := o.SnapshotKeyGroup(g)
		require.NoError(t, err)
		if len(b) > 0 {
			groups[g] = b
		}
	}
	return groups
}

func TestKeyedStateRestoresGroupByGroup(t *testing.T) {
	o := newCounterOp(t)
	out := &nopEmitter[int64]{}
	for i := range int64(25) {
		require.NoError(t, o.ProcessRecord(Record[int64]{Time: Time(i), Value: i}, out))
	}
	groups := snapshotAllGroups(t, o)
	require.NotEmpty(t, groups)
	// Two instances, each restoring half of the groups, hold the counts
	// and timers between them.
	a, b := newCounterOp(t), newCounterOp(t)
	for g, st := range groups {
		dst := a
		if g >= 64 {
			dst = b
		}
		require.NoError(t, dst.RestoreKeyGroup(g, st))
	}
	assert.Equal(t, 10, a.mem.keyCount()+b.mem.keyCount())
	outA, outB := &nopEmitter[int64]{}, &nopEmitter[int64]{}
	require.NoError(t, a.ProcessWatermark(MaxTime, outA))
	require.NoError(t, b.ProcessWatermark(MaxTime, outB))
	assert.Equal(t, 10, outA.n+outB.n)
	// A group's state names its keys: restoring it as another group fails.
	for g, st := range groups {
		err := newCounterOp(t).RestoreKeyGroup((g+1)%128, st)
		require.ErrorIs(t, err, ErrCorruptCheckpoint)
		break
	}
}

// FuzzKeyedStateRestore feeds damaged key-group states to RestoreKeyGroup:
// it must fail cleanly, never panic. Run with
// go test ./stream -run '^$' -fuzz FuzzKeyedStateRestore -fuzztime 1m.
func FuzzKeyedStateRestore(f *testing.F) {
	o := newCounterOp(f)
	out := &nopEmitter[int64]{}
	for i := range int64(25) {
		_ = o.ProcessRecord(Record[int64]{Time: Time(i), Value: i}, out)
	}
	for g, st := range snapshotAllGroups(f, o) {
		f.Add(g, st)
	}
	f.Add(0, []byte{})
	f.Add(3, []byte{1, 1, 5, 'c', 'o', 'u', 'n', 't', 1, 200})
	f.Fuzz(func(t *testing.T, g int, b []byte) {
		o := newCounterOp(t)
		if err := o.RestoreKeyGroup(g, b); err != nil {
			return
		}
		// A state that restores can be used and snapshotted again.
		require.NoError(t, o.ProcessWatermark(MaxTime, &nopEmitter[int64]{}))
		if g >= 0 && g < 128 {
			_, err := o.SnapshotKeyGroup(g)
			require.NoError(t, err)
		}
	})
}

// keyCount returns the number of keys with state.
func (b *memBackend[K]) keyCount() int { return int(b.next) - len(b.free) }
