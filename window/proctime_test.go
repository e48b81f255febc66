package window_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

// Processing-time tests drive a fake clock from inside the pipeline: a Map
// right after KeyBy, on the window operator's goroutine, advances the clock
// by a record's V before the record reaches the window, so each record's
// processing time is known exactly. Records with ID < 0 only move the clock
// and are filtered out before the window.

func clockDriven(clk *streamtest.Clock) func(stream.KeyedStream[int, ev]) stream.KeyedStream[int, ev] {
	return func(k stream.KeyedStream[int, ev]) stream.KeyedStream[int, ev] {
		m := stream.Map(k.Stream, func(e ev) ev {
			if e.V > 0 {
				clk.Advance(time.Duration(e.V))
			}
			return e
		})
		return stream.KeyedStream[int, ev]{Stream: stream.Filter(m, func(e ev) bool { return e.ID >= 0 }), Key: k.Key}
	}
}

// at is a record of key that arrives after the clock moved by advance; its
// event time is deliberately far from the clock's.
func at(key int, advance int) step {
	return step{kind: 0, rec: ev{Key: key, V: advance}, t: 1_000_000 - int64(advance)}
}

func TestProcessingTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		a      window.Assigner
		opts   []window.Option
		steps  []step
		events []string
	}{
		{
			name:  "tumbling: a window fires when the clock reaches its end; event time and watermarks are ignored",
			a:     window.Tumbling(10, window.ProcessingTime()),
			steps: []step{at(1, 0), at(1, 5), at(2, 4), at(1, 1), wm(1_000_000_000), at(1, 25)},
			events: []string{"k1 [100,110) 2 on-time", "k2 [100,110) 1 on-time", "wm 1000000000",
				"k1 [110,120) 1 on-time", "k1 [130,140) 1 on-time", "wm +inf"},
		},
		{
			name:   "sliding",
			a:      window.Sliding(10, 5, window.ProcessingTime()),
			steps:  []step{at(1, 0), at(1, 7)},
			events: []string{"k1 [95,105) 1 on-time", "k1 [100,110) 2 on-time", "k1 [105,115) 1 on-time", "wm +inf"},
		},
		{
			name:   "session: a record before the end extends it, a record at the end finds it fired",
			a:      window.Session(10, window.ProcessingTime()),
			steps:  []step{at(1, 0), at(1, 9), at(1, 10), at(2, 0)},
			events: []string{"k1 [100,119) 2 on-time", "k1 [119,129) 1 on-time", "k2 [119,129) 1 on-time", "wm +inf"},
		},
		{
			name:  "early interval on event-time windows",
			a:     window.Tumbling(100),
			opts:  []window.Option{window.EarlyInterval(10)},
			steps: []step{{rec: ev{Key: 1}, t: 1}, {rec: ev{Key: 1, V: 5}, t: 2}, {rec: ev{Key: 2, V: 5}, t: 3}, {rec: ev{Key: 1, V: 20}, t: 4}, wm(99), {rec: ev{Key: 1, V: 20}, t: 150}},
			events: []string{"k1 [0,100) 2 early", "k2 [0,100) 1 early", "k1 [0,100) 3 on-time", "k2 [0,100) 1 on-time",
				"wm 99", "k1 [100,200) 1 on-time", "wm +inf"},
		},
		{
			name:   "early interval on processing-time windows",
			a:      window.Tumbling(100, window.ProcessingTime()),
			opts:   []window.Option{window.EarlyInterval(30)},
			steps:  []step{at(1, 0), at(1, 10), at(1, 30), at(1, 70)},
			events: []string{"k1 [100,200) 2 early", "k1 [100,200) 3 on-time", "k1 [200,300) 1 on-time", "wm +inf"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := streamtest.NewClock(time.Unix(0, 100))
			out := runWindow(t, flushing(tc.steps), runOpts{clock: clk, between: clockDriven(clk)}, count(tc.a, tc.opts...))
			var events []string
			for _, e := range out.results.Events() {
				if e.IsWatermark {
					events = append(events, "wm "+fmtTime(e.Watermark))
					continue
				}
				r := e.Record.Value
				events = append(events, fmt.Sprintf("k%d %s %v %v", r.Key, fmtSpan(r.Span()), r.Value, r.Firing))
			}
			assert.Equal(t, tc.events, events)
			assert.Empty(t, out.late.Records())
		})
	}
}

// TestTimersFireWithoutRecords checks that the clock alone fires windows:
// the source holds still until the result has arrived.
func TestTimersFireWithoutRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a    window.Assigner
		opts []window.Option
		want []string
	}{
		{"processing-time tumbling", window.Tumbling(10, window.ProcessingTime()), nil,
			[]string{"k1 [100,110) 1 on-time"}},
		{"processing-time session", window.Session(10, window.ProcessingTime()), nil,
			[]string{"k1 [100,110) 1 on-time"}},
		{"early interval", window.Tumbling(100), []window.Option{window.EarlyInterval(10)},
			[]string{"k1 [0,100) 1 early", "k1 [0,100) 1 on-time"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := streamtest.NewClock(time.Unix(0, 100))
			release := make(chan struct{})
			src := streamtest.NewScript(
				streamtest.Rec(ev{Key: 1}, 1),
				streamtest.Rec(ev{Key: 1, V: 15, ID: -1}, 1), // moves the clock, filtered out
				streamtest.WaitFor[ev](release),
			)
			got := make(chan string, 8)
			p := stream.New(stream.WithClock(clk))
			keyed := clockDriven(clk)(stream.KeyBy(stream.From(p, src), evKey, stream.Parallelism(1)))
			w := window.Aggregate(keyed, tc.a, window.Count[ev](), tc.opts...)
			stream.To(w.Stream, stream.SinkFunc[window.Result[int, int64]](func(_ context.Context, r stream.Record[window.Result[int, int64]]) error {
				got <- fmt.Sprintf("k%d %s %v %v", r.Value.Key, fmtSpan(r.Value.Span()), r.Value.Value, r.Value.Firing)
				return nil
			}))
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			select {
			case r := <-got:
				assert.Equal(t, tc.want[0], r)
			case <-ctx.Done():
				t.Fatal("the timer did not fire the window")
			}
			close(release)
			require.NoError(t, <-done)
			close(got)
			var rest []string
			for r := range got {
				rest = append(rest, r)
			}
			assert.Equal(t, tc.want[1:], append([]string{}, rest...))
		})
	}
}
