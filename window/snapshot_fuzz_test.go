package window

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// fuzzAssigners are the window kinds FuzzSnapshotDecode restores into,
// chosen by the input's first argument.
var fuzzAssigners = []Assigner{Tumbling(10), Sliding(12, 4), Session(7), Global()}

// FuzzSnapshotDecode feeds damaged window snapshots to a restore: it must
// fail with an error wrapping stream.ErrCorruptCheckpoint (or ErrInvalid for
// another assigner), never panic or allocate beyond the input's size; a
// snapshot it accepts must restore into an operator that runs to the end of
// input and snapshots again. The seeds are real snapshots of aggregate
// (compact and gob-fallback accumulators) and Process operators.
//
//	go test ./window -run '^$' -fuzz FuzzSnapshotDecode -fuzztime 20s
func FuzzSnapshotDecode(f *testing.F) {
	for i, a := range fuzzAssigners {
		cfg := config{discardLate: true, lateness: 3, earlyN: 2}
		if a.kind == kindGlobal {
			cfg = config{discardLate: true, countN: 3}
		}
		agg, proc := aggOp(a, cfg)(), procOp(a, cfg)()
		out, pout := &collectEmitter[Result[int, Pair[int64, int]]]{}, &collectEmitter[Result[int, string]]{}
		for j := range 20 {
			r := stream.Record[snapRec]{Time: stream.Time(j * 3 % 17), Value: snapRec{Key: j % 4, V: j}}
			require.NoError(f, agg.ProcessRecord(r, out))
			require.NoError(f, proc.ProcessRecord(r, pout))
		}
		require.NoError(f, agg.ProcessWatermark(8, out))
		require.NoError(f, proc.ProcessWatermark(8, pout))
		for g := range testGroups {
			b, err := agg.SnapshotKeyGroup(g)
			require.NoError(f, err)
			f.Add(uint8(i), false, b)
			b, err = proc.SnapshotKeyGroup(g)
			require.NoError(f, err)
			f.Add(uint8(i), true, b)
		}
	}
	f.Add(uint8(0), false, []byte{})
	f.Add(uint8(0), false, []byte{snapVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, kind uint8, process bool, b []byte) {
		a := fuzzAssigners[int(kind)%len(fuzzAssigners)]
		cfg := config{discardLate: true, lateness: 3}
		if process {
			o := procOp(a, cfg)()
			checkFuzzedRestore(t, o, b, &collectEmitter[Result[int, string]]{})
		} else {
			o := aggOp(a, cfg)()
			checkFuzzedRestore(t, o, b, &collectEmitter[Result[int, Pair[int64, int]]]{})
		}
	})
}

func checkFuzzedRestore[Acc, Out any](t *testing.T, o *op[int, snapRec, Acc, Out], b []byte, out *collectEmitter[Result[int, Out]]) {
	err := o.RestoreKeyGroup(0, b)
	if err != nil {
		if !errors.Is(err, stream.ErrCorruptCheckpoint) && !errors.Is(err, stream.ErrInvalid) {
			t.Fatalf("restore failed with %v, want an ErrCorruptCheckpoint or ErrInvalid", err)
		}
		return
	}
	o.restored()
	o.rearm()
	if _, err := o.SnapshotKeyGroup(0); err != nil {
		t.Fatalf("snapshot of a restored state: %v", err)
	}
	if o.wm < stream.MaxTime {
		if err := o.ProcessWatermark(stream.MaxTime, out); err != nil {
			t.Fatalf("end of input after a restore: %v", err)
		}
	}
}
