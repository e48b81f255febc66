package window

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type snapRec struct {
	Key, V int
}

type collectEmitter[T any] struct{ got []string }

func (e *collectEmitter[T]) Emit(r stream.Record[T]) error {
	e.got = append(e.got, fmt.Sprintf("%d %+v", int64(r.Time), r.Value))
	return nil
}

type snapStep struct {
	wm  bool
	w   stream.Time
	rec stream.Record[snapRec]
}

func feed[Acc, Out any](t *testing.T, o *op[int, snapRec, Acc, Out], steps []snapStep, out *collectEmitter[Result[int, Out]]) {
	t.Helper()
	for _, s := range steps {
		if s.wm {
			if s.w > o.wm {
				require.NoError(t, o.ProcessWatermark(s.w, out))
			}
			continue
		}
		require.NoError(t, o.ProcessRecord(s.rec, out))
	}
}

func aggOp(a Assigner, cfg config) func() *op[int, snapRec, Pair[int64, int], Pair[int64, int]] {
	agg := Both(Count[snapRec](), Sum(func(r snapRec) int { return r.V }))
	return func() *op[int, snapRec, Pair[int64, int], Pair[int64, int]] {
		o := &op[int, snapRec, Pair[int64, int], Pair[int64, int]]{a: a, cfg: cfg, key: func(r snapRec) int { return r.Key }, group: groupOf,
			agg: agg, newAcc: agg.New, merge: agg.Merge, result: func(_ int, _ Span, acc Pair[int64, int]) Pair[int64, int] { return agg.Result(acc) }}
		o.init()
		return o
	}
}

func procOp(a Assigner, cfg config) func() *op[int, snapRec, []stream.Record[snapRec], string] {
	return func() *op[int, snapRec, []stream.Record[snapRec], string] {
		o := &op[int, snapRec, []stream.Record[snapRec], string]{a: a, cfg: cfg, key: func(r snapRec) int { return r.Key }, group: groupOf,
			newAcc: func() []stream.Record[snapRec] { return nil },
			addRec: func(acc []stream.Record[snapRec], r stream.Record[snapRec]) []stream.Record[snapRec] {
				return append(acc, r)
			},
			merge:  func(a, b []stream.Record[snapRec]) []stream.Record[snapRec] { return append(a, b...) },
			result: func(_ int, _ Span, recs []stream.Record[snapRec]) string { return fmt.Sprint(recs) }}
		o.init()
		return o
	}
}

// checkRestore runs steps through one operator, and through a second one
// that is snapshotted at split and replaced by a third restored from the
// snapshot: both must emit the same.
func checkRestore[Acc, Out any](t *testing.T, mk func() *op[int, snapRec, Acc, Out], steps []snapStep, split int) {
	t.Helper()
	whole := &collectEmitter[Result[int, Out]]{}
	feed(t, mk(), steps, whole)

	parts := &collectEmitter[Result[int, Out]]{}
	first := mk()
	feed(t, first, steps[:split], parts)
	state, err := snapshotGroups(first)
	require.NoError(t, err)
	second := mk()
	require.NoError(t, restoreGroups(second, state))
	second.restoredWatermark(first.wm) // the runtime keeps the instance's watermark
	feed(t, second, steps[split:], parts)
	require.Equal(t, whole.got, parts.got)
}

// testGroups is the number of key groups of the operators of these tests:
// key k is in group k % testGroups.
const testGroups = 3

func groupOf(k int) int { return k % testGroups }

// snapshotGroups snapshots every key group of o, as a checkpoint does.
func snapshotGroups[K comparable, T, Acc, Out any](o *op[K, T, Acc, Out]) (map[int][]byte, error) {
	m := map[int][]byte{}
	for g := range testGroups {
		b, err := o.SnapshotKeyGroup(g)
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			m[g] = b
		}
	}
	return m, nil
}

// restoreGroups restores the groups into o, as a restore before Open does.
func restoreGroups[K comparable, T, Acc, Out any](o *op[K, T, Acc, Out], m map[int][]byte) error {
	for g := range testGroups {
		if b, ok := m[g]; ok {
			if err := o.RestoreKeyGroup(g, b); err != nil {
				return err
			}
		}
	}
	o.restored()
	o.rearm()
	return nil
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	assigners := []Assigner{Tumbling(10), Tumbling(10, Offset(-3)), Sliding(12, 4), Session(7), Global(), Global()}
	for c := range 200 {
		a := assigners[c%len(assigners)]
		cfg := config{discardLate: true} // random input: some records are late
		if a.kind != kindGlobal && rng.IntN(2) == 0 {
			cfg.lateness = stream.Time(rng.IntN(15))
		}
		if rng.IntN(3) == 0 {
			cfg.earlyN = 1 + rng.IntN(3)
		}
		if a.kind == kindGlobal && c%len(assigners) == len(assigners)-2 {
			cfg.countN = 3 // Global(3) of old: a count trigger
		}
		if rng.IntN(3) == 0 {
			// FireOnClose: panes and sessions survive the restore unfired and
			// fire once, at their close.
			cfg.onClose, cfg.earlyN, cfg.countN = true, 0, 0
		}
		var steps []snapStep
		maxT := stream.Time(rng.IntN(100) - 50)
		keys, n, many := 4, rng.IntN(120), rng.IntN(4) == 0
		if many {
			// Many keys, densely: panes indexed by hash.
			keys, n = 14+rng.IntN(40), 200+rng.IntN(400)
		}
		for range n {
			switch {
			case !many:
				maxT += stream.Time(rng.IntN(4))
			case rng.IntN(8) == 0:
				maxT++
			}
			tm := maxT - stream.Time(rng.IntN(12))
			steps = append(steps, snapStep{rec: stream.Record[snapRec]{Time: tm, Value: snapRec{Key: rng.IntN(keys), V: rng.IntN(100)}}})
			steps = append(steps, snapStep{wm: true, w: maxT - 5})
		}
		steps = append(steps, snapStep{wm: true, w: stream.MaxTime})
		split := rng.IntN(len(steps))
		t.Run(fmt.Sprintf("%d/%v", c, a), func(t *testing.T) {
			checkRestore(t, aggOp(a, cfg), steps, split)
			checkRestore(t, procOp(a, cfg), steps, split)
		})
	}
}

func TestRestoreRejectsOtherWindows(t *testing.T) {
	t.Parallel()
	o := aggOp(Tumbling(10), config{})()
	require.NoError(t, o.ProcessRecord(stream.Record[snapRec]{Time: 3, Value: snapRec{Key: 1}}, &collectEmitter[Result[int, Pair[int64, int]]]{}))
	state, err := snapshotGroups(o)
	require.NoError(t, err)
	err = restoreGroups(aggOp(Tumbling(20), config{})(), state)
	assert.ErrorIs(t, err, stream.ErrInvalid)
	g1 := state[1]
	err = restoreGroups(aggOp(Tumbling(10), config{})(), map[int][]byte{1: g1[:len(g1)/2]})
	assert.ErrorIs(t, err, stream.ErrCorruptCheckpoint)
}

type opaque struct{ n int }

func TestSnapshotOfUnencodableStateFails(t *testing.T) {
	t.Parallel()
	o := &op[opaque, opaque, int64, int64]{a: Tumbling(10), key: func(v opaque) opaque { return v }, group: func(opaque) int { return 0 }, agg: Count[opaque](), newAcc: func() int64 { return 0 }}
	o.init()
	require.NoError(t, o.ProcessRecord(stream.Record[opaque]{Time: 1, Value: opaque{1}}, &collectEmitter[Result[opaque, int64]]{}))
	_, err := o.SnapshotKeyGroup(0)
	assert.ErrorContains(t, err, "gob")
}
