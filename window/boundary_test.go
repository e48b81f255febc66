package window_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

func rec(key int, t stream.Time) step { return step{kind: 0, rec: ev{Key: key}, t: int64(t)} }
func wm(t stream.Time) step           { return step{kind: 1, wm: int64(t)} }

func fmtTime(t stream.Time) string {
	switch t {
	case stream.MinTime:
		return "-inf"
	case stream.MaxTime:
		return "+inf"
	}
	return fmt.Sprint(int64(t))
}

func fmtSpan(s window.Span) string { return "[" + fmtTime(s.Start) + "," + fmtTime(s.End) + ")" }

// trace runs steps through KeyBy(Key) -> build with one instance and returns
// what the sink saw, results and watermarks in order ("k1 [0,10) 2 on-time",
// "wm 9"), and the late records ("t=9 [0,10)"). A result that does not
// travel at End-1 says at what time ("k1 [0,10) 2 on-time @14").
func trace[Out any](t *testing.T, steps []step, build func(stream.KeyedStream[int, ev]) window.Windowed[int, ev, Out]) (events, late []string, lateN int64) {
	t.Helper()
	out := runWindow(t, flushing(steps), runOpts{}, build)
	for _, e := range out.results.Events() {
		if e.IsWatermark {
			events = append(events, "wm "+fmtTime(e.Watermark))
			continue
		}
		r := e.Record.Value
		ev := fmt.Sprintf("k%d %s %v %v", r.Key, fmtSpan(r.Span()), r.Value, r.Firing)
		if e.Record.Time != r.End-1 {
			ev += " @" + fmtTime(e.Record.Time)
		}
		events = append(events, ev)
	}
	for _, r := range out.late.Records() {
		var ws []string
		for _, w := range r.Value.Windows {
			ws = append(ws, fmtSpan(w))
		}
		require.Equal(t, r.Value.Record.Time, r.Time, "a late record travels at its own time")
		late = append(late, fmt.Sprintf("t=%d %s", int64(r.Time), strings.Join(ws, " ")))
	}
	return events, late, out.lateN
}

func count(a window.Assigner, opts ...window.Option) func(stream.KeyedStream[int, ev]) window.Windowed[int, ev, int64] {
	return func(k stream.KeyedStream[int, ev]) window.Windowed[int, ev, int64] {
		return window.Aggregate(k, a, window.Count[ev](), opts...)
	}
}

func TestBoundaries(t *testing.T) {
	t.Parallel()
	type S = []step
	tests := []struct {
		name   string
		build  func(stream.KeyedStream[int, ev]) window.Windowed[int, ev, int64]
		steps  S
		events []string
		late   []string
	}{
		{
			name:   "record at end-1 is in the window, record at end in the next",
			build:  count(window.Tumbling(10)),
			steps:  S{rec(1, 9), rec(1, 10), wm(9)},
			events: []string{"k1 [0,10) 1 on-time", "wm 9", "k1 [10,20) 1 on-time", "wm +inf"},
		},
		{
			name:   "watermark end-2 does not fire, end-1 fires before it is forwarded",
			build:  count(window.Tumbling(10)),
			steps:  S{rec(1, 0), rec(2, 5), wm(8), wm(9)},
			events: []string{"wm 8", "k1 [0,10) 1 on-time", "k2 [0,10) 1 on-time", "wm 9", "wm +inf"},
		},
		{
			name:   "record exactly at end after the window closed is not late",
			build:  count(window.Tumbling(10)),
			steps:  S{rec(1, 5), wm(9), rec(1, 10)},
			events: []string{"k1 [0,10) 1 on-time", "wm 9", "k1 [10,20) 1 on-time", "wm +inf"},
		},
		{
			name:   "record at end-1 after the watermark reached end-1 is late",
			build:  count(window.Tumbling(10)),
			steps:  S{rec(1, 5), wm(9), rec(1, 9)},
			events: []string{"k1 [0,10) 1 on-time", "wm 9", "wm +inf"},
			late:   []string{"t=9 [0,10)"},
		},
		{
			name:  "allowed lateness: late firings until end-1+L, then late output",
			build: count(window.Tumbling(10), window.AllowedLateness(5)),
			steps: S{rec(1, 5), wm(9), rec(1, 3), wm(13), rec(1, 0), wm(14), rec(1, 9)},
			events: []string{"k1 [0,10) 1 on-time", "wm 9", "k1 [0,10) 2 late", "wm 13", "k1 [0,10) 3 late",
				"wm 14", "wm +inf"},
			late: []string{"t=9 [0,10)"},
		},
		{
			name:   "allowed lateness: a late record opens a window that never fired, and it fires late at once",
			build:  count(window.Tumbling(10), window.AllowedLateness(5)),
			steps:  S{rec(1, 15), wm(10), rec(2, 5), rec(2, 6)},
			events: []string{"wm 10", "k2 [0,10) 1 late", "k2 [0,10) 2 late", "k1 [10,20) 1 on-time", "wm +inf"},
		},
		{
			name:  "negative times use a true floor",
			build: count(window.Tumbling(10)),
			steps: S{rec(1, -1), rec(1, -10), rec(1, -11), rec(1, 0), rec(1, -20), rec(1, -21)},
			events: []string{"k1 [-30,-20) 1 on-time", "k1 [-20,-10) 2 on-time", "k1 [-10,0) 2 on-time",
				"k1 [0,10) 1 on-time", "wm +inf"},
		},
		{
			name:   "positive offset",
			build:  count(window.Tumbling(10, window.Offset(3))),
			steps:  S{rec(1, 2), rec(1, 3), rec(1, -8), rec(1, 12), rec(1, 13)},
			events: []string{"k1 [-17,-7) 1 on-time", "k1 [-7,3) 1 on-time", "k1 [3,13) 2 on-time", "k1 [13,23) 1 on-time", "wm +inf"},
		},
		{
			name:   "negative offset",
			build:  count(window.Tumbling(10, window.Offset(-3))),
			steps:  S{rec(1, 6), rec(1, 7), rec(1, -4), rec(1, -3)},
			events: []string{"k1 [-13,-3) 1 on-time", "k1 [-3,7) 2 on-time", "k1 [7,17) 1 on-time", "wm +inf"},
		},
		{
			name:   "sliding: a record belongs to every window containing it",
			build:  count(window.Sliding(10, 5)),
			steps:  S{rec(1, 7), rec(1, 5), rec(1, 4), wm(9)},
			events: []string{"k1 [-5,5) 1 on-time", "k1 [0,10) 3 on-time", "wm 9", "k1 [5,15) 2 on-time", "wm +inf"},
		},
		{
			name:   "sliding: a record with one window closed and one open goes to the open one only",
			build:  count(window.Sliding(10, 5)),
			steps:  S{rec(1, 12), wm(9), rec(1, 7)},
			events: []string{"wm 9", "k1 [5,15) 2 on-time", "k1 [10,20) 1 on-time", "wm +inf"},
		},
		{
			name:   "sliding: a record whose windows all closed is late with all of them",
			build:  count(window.Sliding(10, 5, window.Offset(1))),
			steps:  S{rec(1, 20), wm(15), rec(1, 6)},
			events: []string{"wm 15", "k1 [11,21) 1 on-time", "k1 [16,26) 1 on-time", "wm +inf"},
			late:   []string{"t=6 [1,11) [6,16)"},
		},
		{
			name:   "sliding with a size that is not a multiple of the slide",
			build:  count(window.Sliding(10, 4)),
			steps:  S{rec(1, 9)},
			events: []string{"k1 [0,10) 1 on-time", "k1 [4,14) 1 on-time", "k1 [8,18) 1 on-time", "wm +inf"},
		},
		{
			name:   "sessions that touch merge",
			build:  count(window.Session(10)),
			steps:  S{rec(1, 0), rec(1, 10), rec(2, 0), rec(2, 11)},
			events: []string{"k2 [0,10) 1 on-time", "k1 [0,20) 2 on-time", "k2 [11,21) 1 on-time", "wm +inf"},
		},
		{
			name:   "a record between two sessions bridges them",
			build:  count(window.Session(10)),
			steps:  S{rec(1, 0), rec(1, 20), rec(1, 10), wm(28), wm(29)},
			events: []string{"wm 28", "k1 [0,30) 3 on-time", "wm 29", "wm +inf"},
		},
		{
			name:   "session: a record earlier than a session touches its start",
			build:  count(window.Session(10)),
			steps:  S{rec(1, 20), rec(1, 10), rec(1, 9)},
			events: []string{"k1 [9,30) 3 on-time", "wm +inf"},
		},
		{
			name:   "session: a record whose own window closed joins an open session it touches",
			build:  count(window.Session(10)),
			steps:  S{rec(1, 100), wm(99), rec(1, 90)},
			events: []string{"wm 99", "k1 [90,110) 2 on-time", "wm +inf"},
		},
		{
			name:   "session: a record whose own window closed and touches nothing is late",
			build:  count(window.Session(10)),
			steps:  S{rec(1, 100), wm(99), rec(1, 89)},
			events: []string{"wm 99", "k1 [100,110) 1 on-time", "wm +inf"},
			late:   []string{"t=89 [89,99)"},
		},
		{
			name:   "session: a late record widens a fired session and fires it late",
			build:  count(window.Session(10), window.AllowedLateness(20)),
			steps:  S{rec(1, 100), wm(109), rec(1, 90), wm(128), wm(129), rec(1, 95)},
			events: []string{"k1 [100,110) 1 on-time", "wm 109", "k1 [90,110) 2 late", "wm 128", "wm 129", "wm +inf"},
			late:   []string{"t=95 [95,105)"},
		},
		{
			name:   "session: a late record that extends a fired session past the watermark waits for the new end",
			build:  count(window.Session(10), window.AllowedLateness(20)),
			steps:  S{rec(1, 100), wm(112), rec(1, 108), wm(116), wm(117)},
			events: []string{"k1 [100,110) 1 on-time", "wm 112", "wm 116", "k1 [100,118) 2 on-time", "wm 117", "wm +inf"},
		},
		{
			name:   "global count window fires every n records per key and the rest at the end",
			build:  count(window.Global(), window.CountTrigger(2)),
			steps:  S{rec(1, 5), rec(2, 1), rec(1, -5), rec(1, 100), wm(1000), rec(2, 3), rec(2, 0), rec(1, 7)},
			events: []string{"k1 [-inf,+inf) 2 on-time", "wm 1000", "k2 [-inf,+inf) 2 on-time", "k1 [-inf,+inf) 2 on-time", "k2 [-inf,+inf) 1 on-time", "wm +inf"},
		},
		{
			name:   "a count trigger on tumbling windows fires every n records of a key, and what is left on time",
			build:  count(window.Tumbling(10), window.CountTrigger(2)),
			steps:  S{rec(1, 1), rec(1, 2), rec(2, 3), rec(1, 4), wm(9), rec(1, 12), rec(1, 13)},
			events: []string{"k1 [0,10) 2 on-time", "k1 [0,10) 1 on-time", "k2 [0,10) 1 on-time", "wm 9", "k1 [10,20) 2 on-time", "wm +inf"},
		},
		{
			name:   "a count trigger on sessions: a fired session that ends with nothing left does not fire again",
			build:  count(window.Session(10), window.CountTrigger(2)),
			steps:  S{rec(1, 0), rec(1, 5), rec(1, 30)},
			events: []string{"k1 [0,15) 2 on-time", "k1 [30,40) 1 on-time", "wm +inf"},
		},
		{
			name:   "global window without a count fires at the end, early every n",
			build:  count(window.Global(), window.EarlyEvery(2)),
			steps:  S{rec(1, 5), rec(1, 6), rec(1, 7)},
			events: []string{"k1 [-inf,+inf) 2 early", "k1 [-inf,+inf) 3 on-time", "wm +inf"},
		},
		{
			name:   "early every n records, accumulating, then on time",
			build:  count(window.Tumbling(10), window.EarlyEvery(2)),
			steps:  S{rec(1, 1), rec(1, 2), rec(2, 2), rec(1, 3), rec(1, 4), rec(1, 5), wm(9)},
			events: []string{"k1 [0,10) 2 early", "k1 [0,10) 4 early", "k1 [0,10) 5 on-time", "k2 [0,10) 1 on-time", "wm 9", "wm +inf"},
		},
		{
			name:   "early firings on merged sessions count the records of both",
			build:  count(window.Session(10), window.EarlyEvery(3)),
			steps:  S{rec(1, 0), rec(1, 20), rec(1, 25), rec(1, 10)},
			events: []string{"k1 [0,35) 4 early", "k1 [0,35) 4 on-time", "wm +inf"},
		},
		{
			name:   "end of input fires every window; windows at the ends of time are clipped",
			build:  count(window.Tumbling(time.Hour)),
			steps:  S{rec(1, stream.MaxTime-1), rec(1, stream.MinTime+1)},
			events: []string{"k1 [-inf,-9223369200000000000) 1 on-time", "k1 [9223369200000000000,+inf) 1 on-time", "wm +inf"},
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

func TestProcessWindow(t *testing.T) {
	t.Parallel()
	list := func(key int, w window.Span, recs []stream.Record[ev]) string {
		var ts []string
		for _, r := range recs {
			ts = append(ts, fmt.Sprint(int64(r.Time), ":", r.Value.V))
		}
		return strings.Join(ts, ",")
	}
	steps := []step{
		{rec: ev{Key: 1, V: 10}, t: 0}, {rec: ev{Key: 1, V: 11}, t: 30},
		{rec: ev{Key: 1, V: 12}, t: 15}, {kind: 1, wm: 20}, {rec: ev{Key: 1, V: 13}, t: 31},
	}
	events, late, _ := trace(t, steps, func(k stream.KeyedStream[int, ev]) window.Windowed[int, ev, string] {
		return window.Process(k, window.Session(15), list)
	})
	// The merged session holds the earlier session's records first.
	assert.Equal(t, []string{"wm 20", "k1 [0,46) 0:10,30:11,15:12,31:13 on-time", "wm +inf"}, events)
	assert.Empty(t, late)
}

// With DiscardLate, late records nobody consumes are counted and dropped.
func TestDiscardLateCountsAndDrops(t *testing.T) {
	t.Parallel()
	src := flushing([]step{rec(1, 5), wm(9), rec(1, 9), rec(1, 8)})
	out := runWindow(t, src, runOpts{noLate: true}, count(window.Tumbling(10), window.DiscardLate()))
	assert.Equal(t, int64(2), out.lateN)
	assert.Len(t, out.results.Records(), 1)
}

// Without DiscardLate, a late record nobody consumes fails the run, as an
// unconsumed dead letter does; a run with no late record is fine.
func TestUnconsumedLateFailsRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		steps []step
		late  bool
	}{
		{"late record", []step{rec(1, 5), wm(9), rec(1, 8)}, true},
		{"none late", []step{rec(1, 5), wm(9), rec(1, 10)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			w := window.Aggregate(stream.KeyBy(stream.From(p, flushing(tc.steps)), evKey), window.Tumbling(10), window.Count[ev](), stream.Name("counts"))
			stream.To(w.Stream, stream.Discard[window.Result[int, int64]]())
			err := p.Run(context.Background())
			if !tc.late {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, stream.ErrNotConnected)
			assert.Contains(t, err.Error(), "counts")
			assert.Contains(t, err.Error(), "DiscardLate")
		})
	}
}

func TestInvalidConfigurationFailsRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		a     window.Assigner
		opts  []window.Option
		agg   window.Aggregator[ev, int64, int64]
		match string
	}{
		{"zero size", window.Tumbling(0), nil, nil, "size must be positive"},
		{"zero assigner", window.Assigner{}, nil, nil, "zero Assigner"},
		{"slide above size", window.Sliding(10, 20), nil, nil, "slide"},
		{"zero slide", window.Sliding(10, 0), nil, nil, "slide"},
		{"offset too large", window.Tumbling(10, window.Offset(10)), nil, nil, "offset"},
		{"offset too small", window.Sliding(10, 5, window.Offset(-5)), nil, nil, "offset"},
		{"session offset", window.Session(10, window.Offset(1)), nil, nil, "offset"},
		{"zero gap", window.Session(0), nil, nil, "gap"},
		{"zero count", window.Global(), []window.Option{window.CountTrigger(0)}, nil, "count"},
		{"negative lateness", window.Tumbling(10), []window.Option{window.AllowedLateness(-1)}, nil, "lateness"},
		{"lateness in processing time", window.Tumbling(10, window.ProcessingTime()), []window.Option{window.AllowedLateness(1)}, nil, "lateness"},
		{"lateness on a global window", window.Global(), []window.Option{window.CountTrigger(1), window.AllowedLateness(1)}, nil, "never late"},
		{"count trigger with lateness", window.Tumbling(10), []window.Option{window.CountTrigger(2), window.AllowedLateness(1)}, nil, "count trigger"},
		{"early every 0", window.Tumbling(10), []window.Option{window.EarlyEvery(0)}, nil, "EarlyEvery"},
		{"early interval 0", window.Tumbling(10), []window.Option{window.EarlyInterval(0)}, nil, "EarlyInterval"},
		{"fire on close with early firings", window.Tumbling(10), []window.Option{window.FireOnClose(), window.EarlyEvery(2)}, nil, "early firings"},
		{"fire on close with early intervals", window.Session(10), []window.Option{window.EarlyInterval(time.Second), window.FireOnClose()}, nil, "early firings"},
		{"fire on close with a count trigger", window.Global(), []window.Option{window.FireOnClose(), window.CountTrigger(3)}, nil, "count trigger"},
		{"nil option", window.Tumbling(10), []window.Option{nil}, nil, "nil option"},
		{"nil aggregator", window.Tumbling(10), nil, window.Aggregator[ev, int64, int64](nil), "nil aggregator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			keyed := stream.KeyBy(stream.From(p, flushing([]step{rec(1, 1)})), evKey, stream.Parallelism(2))
			agg := tc.agg
			if agg == nil && tc.match != "nil aggregator" {
				agg = window.Count[ev]()
			}
			w := window.Aggregate(keyed, tc.a, agg, append(tc.opts, stream.Name("counts"))...)
			stream.To(w.Stream, stream.Discard[window.Result[int, int64]]())
			err := p.Run(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, window.ErrInvalid)
			assert.ErrorIs(t, err, stream.ErrInvalid)
			assert.Contains(t, err.Error(), tc.match)
			var oe *stream.OperatorError
			if tc.match != "nil option" {
				require.True(t, errors.As(err, &oe), "%v", err)
				assert.Equal(t, "counts", oe.Op)
			}
		})
	}
}
