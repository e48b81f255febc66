package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEmitMarkedToMatchesRecordByRecord: a run of records with their
// watermarks into one instance gives the batches (records, and the marks
// between them) that adding the records one at a time, each behind the
// watermarks before it, gives: for random runs, marks (several at one
// position, some not raising the watermark, some after the last record),
// batch sizes and watermarks raised between runs.
func TestEmitMarkedToMatchesRecordByRecord(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	newSender := func(size int) (*sender[int], chan *batch[int]) {
		spec := &exchangeSpec[int]{name: "x", senders: 1, parallelism: 1, batch: size, capacity: 1 << 12}
		ch := make(chan *batch[int], 1<<12)
		xr := &exchangeRun[int]{spec: spec, chans: []chan *batch[int]{ch}, free: make(chan *batch[int], 4)}
		return xr.newSender(context.Background(), 0), ch
	}
	drain := func(ch chan *batch[int]) []string {
		var out []string
		for len(ch) > 0 {
			b := <-ch
			out = append(out, fmt.Sprint(b.recs, b.marks))
		}
		return out
	}
	for trial := range 300 {
		size := 1 + rng.IntN(9)
		bulk, bulkCh := newSender(size)
		one, oneCh := newSender(size)
		next, wm := 0, Time(0)
		for range 1 + rng.IntN(6) {
			n := rng.IntN(25)
			rs := make([]Record[int], n)
			for i := range rs {
				rs[i] = Record[int]{Time: Time(next), Value: next}
				next++
			}
			var marks []mark
			for at := 0; at <= n; at++ {
				for rng.IntN(3) == 0 {
					if rng.IntN(4) > 0 {
						wm += Time(rng.IntN(3))
					}
					marks = append(marks, mark{at: at, wm: wm - Time(rng.IntN(2))})
				}
			}
			require.NoError(t, bulk.emitMarkedTo(0, rs, marks))
			mi := 0
			for i := range rs {
				for ; mi < len(marks) && marks[mi].at <= i; mi++ {
					one.wm = max(one.wm, marks[mi].wm)
				}
				require.NoError(t, one.add(0, rs[i]))
			}
			for ; mi < len(marks); mi++ {
				one.wm = max(one.wm, marks[mi].wm)
			}
			if rng.IntN(3) == 0 {
				wm += 5
				require.NoError(t, bulk.ctrl(control{kind: ctrlWatermark, wm: wm}))
				require.NoError(t, one.ctrl(control{kind: ctrlWatermark, wm: wm}))
			}
		}
		require.NoError(t, bulk.flushAll(false, true, 0))
		require.NoError(t, one.flushAll(false, true, 0))
		require.Equal(t, drain(oneCh), drain(bulkCh), "trial %d, batch size %d", trial, size)
	}
}
