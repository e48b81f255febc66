package window_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// TestFireOnClose traces FireOnClose at its edges: one result per key and
// window, at the close, covering the allowed late records; records beyond
// the lateness go to the late output. (TestAgainstReference and the restore
// tests check it on random inputs.)
func TestFireOnClose(t *testing.T) {
	t.Parallel()
	type S = []step
	onClose := window.FireOnClose()
	tests := []struct {
		name   string
		build  func(stream.KeyedStream[int, ev]) window.Windowed[int, ev, int64]
		steps  S
		events []string
		late   []string
	}{
		{
			name:  "one firing at end-1+L with the late records, none at end-1",
			build: count(window.Tumbling(10), window.AllowedLateness(5), onClose),
			steps: S{rec(1, 5), rec(2, 6), wm(9), rec(1, 3), wm(13), rec(1, 0), wm(14), rec(1, 9)},
			events: []string{"wm 9", "wm 13", "k1 [0,10) 3 on-time @14", "k2 [0,10) 1 on-time @14",
				"wm 14", "wm +inf"},
			late: []string{"t=9 [0,10)"},
		},
		{
			name:   "a watermark past the close fires once; the result travels at the close",
			build:  count(window.Tumbling(10), window.AllowedLateness(5), onClose),
			steps:  S{rec(1, 5), wm(100)},
			events: []string{"k1 [0,10) 1 on-time @14", "wm 100", "wm +inf"},
		},
		{
			name:   "without lateness it is the on-time firing",
			build:  count(window.Tumbling(10), onClose),
			steps:  S{rec(1, 5), wm(9), rec(1, 8)},
			events: []string{"k1 [0,10) 1 on-time", "wm 9", "wm +inf"},
			late:   []string{"t=8 [0,10)"},
		},
		{
			name:   "a late record opening a window that never fired waits for its close",
			build:  count(window.Tumbling(10), window.AllowedLateness(5), onClose),
			steps:  S{rec(1, 15), wm(10), rec(2, 5), rec(2, 6), wm(14)},
			events: []string{"wm 10", "k2 [0,10) 2 on-time @14", "wm 14", "k1 [10,20) 1 on-time @24", "wm +inf"},
		},
		{
			name:   "end of input closes every window",
			build:  count(window.Sliding(10, 5), window.AllowedLateness(100), onClose),
			steps:  S{rec(1, 7), wm(50), rec(1, 3)},
			events: []string{"wm 50", "k1 [-5,5) 1 on-time @104", "k1 [0,10) 2 on-time @109", "k1 [5,15) 1 on-time @114", "wm +inf"},
		},
		{
			name:  "sessions fire once, when the merged session closes",
			build: count(window.Session(10), window.AllowedLateness(20), onClose),
			steps: S{rec(1, 100), wm(109), rec(1, 90), wm(128), rec(1, 95), wm(129), rec(1, 120)},
			events: []string{"wm 109", "wm 128", "k1 [90,110) 3 on-time @129", "wm 129",
				"k1 [120,130) 1 on-time @149", "wm +inf"},
		},
		{
			name:   "a late record that widens a session moves its close",
			build:  count(window.Session(10), window.AllowedLateness(20), onClose),
			steps:  S{rec(1, 100), wm(112), rec(1, 108), wm(129), wm(137)},
			events: []string{"wm 112", "wm 129", "k1 [100,118) 2 on-time @137", "wm 137", "wm +inf"},
		},
		{
			name:   "a global window closes at the end of input only",
			build:  count(window.Global(), onClose),
			steps:  S{rec(1, 5), rec(2, 6), wm(1000), rec(1, 7)},
			events: []string{"wm 1000", "k1 [-inf,+inf) 2 on-time", "k2 [-inf,+inf) 1 on-time", "wm +inf"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			events, late, lateN := trace(t, tc.steps, tc.build)
			assert.Equal(t, tc.events, events)
			assert.Equal(t, tc.late, late)
			assert.Equal(t, int64(len(tc.late)), lateN, "late count in the metrics")
		})
	}
}

// takeOver counts records in a pointer accumulator, and counts its
// Result and FinalResult calls.
type takeOver struct{ results, finals *atomic.Int64 }

func (takeOver) New() *[]int64 { return &[]int64{} }
func (takeOver) Add(acc *[]int64, e ev) *[]int64 {
	*acc = append(*acc, int64(e.Key)) // a nil acc, handed over before, panics here
	return acc
}
func (takeOver) Merge(a, b *[]int64) *[]int64 { *a = append(*a, *b...); return a }
func (g takeOver) Result(acc *[]int64) int64 {
	g.results.Add(1)
	return int64(len(*acc))
}
func (g takeOver) FinalResult(acc *[]int64) int64 {
	g.finals.Add(1)
	return int64(len(*acc))
}

// TestFinalResult: under FireOnClose an aggregator that takes its
// accumulators over gets FinalResult, never Result, once per result, and
// the results are those of Count; without FireOnClose it gets Result only.
// A use of a handed-over accumulator would panic (the operator drops it).
func TestFinalResult(t *testing.T) {
	t.Parallel()
	type S = []step
	for _, tc := range []struct {
		name  string
		a     window.Assigner
		opts  []window.Option
		steps S
	}{
		{"tumbling with lateness", window.Tumbling(10), []window.Option{window.AllowedLateness(5)},
			S{rec(1, 5), rec(2, 6), wm(9), rec(1, 3), wm(13), rec(1, 0), wm(14), rec(1, 9), rec(1, 25), wm(40), rec(2, 41)}},
		{"sliding", window.Sliding(10, 5), []window.Option{window.AllowedLateness(100)},
			S{rec(1, 7), wm(50), rec(1, 3), rec(2, 60)}},
		{"sessions", window.Session(10), []window.Option{window.AllowedLateness(20)},
			S{rec(1, 100), wm(109), rec(1, 90), wm(128), rec(1, 95), wm(129), rec(1, 120)}},
		{"global", window.Global(), nil, S{rec(1, 5), rec(2, 6), wm(1000), rec(1, 7)}},
	} {
		for _, onClose := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/onClose=%v", tc.name, onClose), func(t *testing.T) {
				t.Parallel()
				opts := slices.Clone(tc.opts)
				if onClose {
					opts = append(opts, window.FireOnClose())
				}
				want, wantLate, _ := trace(t, tc.steps, count(tc.a, opts...))
				agg := takeOver{results: new(atomic.Int64), finals: new(atomic.Int64)}
				got, gotLate, _ := trace(t, tc.steps, func(k stream.KeyedStream[int, ev]) window.Windowed[int, ev, int64] {
					return window.Aggregate(k, tc.a, window.Aggregator[ev, *[]int64, int64](agg), opts...)
				})
				assert.Equal(t, want, got)
				assert.Equal(t, wantLate, gotLate)
				results := int64(0)
				for _, e := range got {
					if !strings.HasPrefix(e, "wm ") {
						results++
					}
				}
				require.Positive(t, results)
				if onClose {
					assert.Equal(t, results, agg.finals.Load(), "one FinalResult per result")
					assert.Zero(t, agg.results.Load(), "no Result under FireOnClose")
				} else {
					assert.Equal(t, results, agg.results.Load())
					assert.Zero(t, agg.finals.Load(), "no FinalResult without FireOnClose")
				}
			})
		}
	}
}
