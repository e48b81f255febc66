package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// kv is a key and a number.
type kv struct {
	K string
	V int64
}

// timerEcho registers an event-time timer at each record's V (deletes the
// one at -V for a negative V) and emits "key@time" from each timer.
func timerEcho(*stream.KeyedStates) stream.KeyedFuncs[string, kv, string] {
	return stream.KeyedFuncs[string, kv, string]{
		Process: func(c *stream.KeyedContext[string], r stream.Record[kv], _ stream.Emitter[string]) error {
			if r.Value.V < 0 {
				c.DeleteEventTimer(stream.Time(-r.Value.V))
			} else {
				c.RegisterEventTimer(stream.Time(r.Value.V))
			}
			return nil
		},
		OnTimer: func(c *stream.KeyedContext[string], t stream.Timer, out stream.Emitter[string]) error {
			if t.Domain != stream.EventTime || c.Watermark() < t.Time {
				return fmt.Errorf("timer %v fired at watermark %v", t, c.Watermark())
			}
			return out.Emit(stream.At(fmt.Sprintf("%s@%d", c.Key(), t.Time), t.Time))
		},
	}
}

func TestKeyedEventTimersFireBeforeTheirWatermarkGoesOn(t *testing.T) {
	t.Parallel()
	rec := func(k string, v int64) streamtest.Step[kv] { return streamtest.Rec(kv{k, v}, 0) }
	src := streamtest.NewScript(
		rec("a", 30), rec("b", 20), rec("a", 30), rec("a", 10), // a@30 once
		rec("c", 15), rec("c", -15), // deleted
		streamtest.Watermark[kv](25), streamtest.Flush[kv](),
		rec("b", 40), rec("b", 5), // behind the watermark: fires with the next one
		streamtest.Watermark[kv](35), streamtest.Flush[kv](),
	)
	p := stream.New()
	k := stream.KeyBy(stream.From[kv](p, src), func(v kv) string { return v.K }, stream.Parallelism(1))
	sink := streamtest.NewSink[string]()
	stream.To(stream.KeyedProcess(k, timerEcho), sink)
	require.NoError(t, p.Run(context.Background()))
	var got []string
	for _, e := range sink.Events() {
		if e.IsWatermark {
			got = append(got, fmt.Sprintf("wm %v", int64(e.Watermark)))
		} else {
			got = append(got, e.Record.Value)
		}
	}
	assert.Equal(t, []string{"a@10", "b@20", "wm 25", "b@5", "a@30", "wm 35", "b@40", fmt.Sprintf("wm %d", int64(stream.MaxTime))}, got)
}

func TestKeyedProcessingTimersUseTheClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := streamtest.NewClock(start)
	in := make(chan string)
	p := stream.New(stream.WithClock(clk))
	k := stream.KeyBy(stream.From(p, stream.Chan(in)), func(s string) string { return s }, stream.Parallelism(1))
	fired := make(chan string, 8)
	timers := stream.KeyedProcess(k, func(st *stream.KeyedStates) stream.KeyedFuncs[string, string, string] {
		seen := stream.NewValueState[int](st, "seen")
		return stream.KeyedFuncs[string, string, string]{
			Process: func(c *stream.KeyedContext[string], r stream.Record[string], _ stream.Emitter[string]) error {
				n, _ := seen.Value()
				seen.Update(n + 1)
				now := c.Context().Clock().Now()
				c.RegisterProcessingTimer(now.Add(time.Minute)) // once per key and time
				if c.Key() == "gone" {
					c.DeleteProcessingTimer(now.Add(time.Minute))
				}
				return nil
			},
			OnTimer: func(c *stream.KeyedContext[string], t stream.Timer, out stream.Emitter[string]) error {
				n, _ := seen.Value()
				return out.Emit(stream.At(fmt.Sprintf("%s seen %d, timer at +%v", c.Key(), n, t.Time.Std().Sub(start)), 0))
			},
		}
	})
	stream.To(timers, stream.ChanSink(fired))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	in <- "x"
	in <- "x"
	in <- "gone"
	require.NoError(t, clk.WaitForTimers(context.Background(), 1))
	clk.Advance(time.Minute)
	assert.Equal(t, "x seen 2, timer at +1m0s", <-fired)
	close(in)
	require.NoError(t, <-done)
	assert.Empty(t, fired, "the deleted timer never fired")
}

func TestKeyedProcessRefusesBadSetups(t *testing.T) {
	t.Parallel()
	for name, setup := range map[string]func(*stream.KeyedStates) stream.KeyedFuncs[string, kv, string]{
		"nil": nil,
		"no Process": func(*stream.KeyedStates) stream.KeyedFuncs[string, kv, string] {
			return stream.KeyedFuncs[string, kv, string]{}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			k := stream.KeyBy(stream.From(p, stream.Slice([]kv{{"a", 1}})), func(v kv) string { return v.K })
			stream.To(stream.KeyedProcess(k, setup), stream.Discard[string]())
			assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
		})
	}
}

func TestKeyedStateDeclaredTwicePanics(t *testing.T) {
	t.Parallel()
	p := stream.New()
	k := stream.KeyBy(stream.From(p, stream.Slice([]kv{{"a", 1}})), func(v kv) string { return v.K })
	stream.To(stream.KeyedProcess(k, func(st *stream.KeyedStates) stream.KeyedFuncs[string, kv, string] {
		stream.NewValueState[int](st, "n")
		stream.NewListState[int](st, "n")
		return stream.KeyedFuncs[string, kv, string]{}
	}), stream.Discard[string]())
	assert.PanicsWithValue(t, `stream: keyed state "n" declared twice`, func() { _ = p.Run(context.Background()) })
}

// wmProbe is an output of TestKeyedOutputsKeepTheirWatermark: the time of
// a record or timer, and the operator's watermark when it was emitted.
type wmProbe struct {
	Timer  bool
	At, WM stream.Time
}

// probeSink records for each output the last watermark it saw before it.
type probeSink struct {
	last stream.Time
	seen []wmProbe // WM: the sink's last watermark
	sent []wmProbe // WM: the operator's watermark
}

func (s *probeSink) Write(_ context.Context, r stream.Record[wmProbe]) error {
	s.sent = append(s.sent, r.Value)
	s.seen = append(s.seen, wmProbe{Timer: r.Value.Timer, At: r.Value.At, WM: s.last})
	return nil
}

func (s *probeSink) WriteWatermark(_ context.Context, w stream.Time) error {
	if w < s.last {
		return fmt.Errorf("watermark %v after %v", w, s.last)
	}
	s.last = w
	return nil
}

// TestKeyedOutputsKeepTheirWatermark checks where watermarks that fire no
// timer reach the next operator: every record a KeyedProcess emits arrives
// right behind the watermark the operator had when it emitted it, and a
// timer's output before the watermark that fired it, whatever the batch size.
func TestKeyedOutputsKeepTheirWatermark(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 3, 64, 1024} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			const n = 3000
			p := stream.New(stream.WithBatchSize(batch))
			src := stream.From(p, stream.Generate(n, func(i int64) stream.Record[int64] {
				return stream.At(i%5, stream.Time(i/2*2)) // two records per time
			}), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](3)))
			k := stream.KeyBy(src, func(v int64) int64 { return v }, stream.Parallelism(1))
			out := stream.KeyedProcess(k, func(*stream.KeyedStates) stream.KeyedFuncs[int64, int64, wmProbe] {
				return stream.KeyedFuncs[int64, int64, wmProbe]{
					Process: func(c *stream.KeyedContext[int64], r stream.Record[int64], out stream.Emitter[wmProbe]) error {
						if r.Time%7 == 0 {
							c.RegisterEventTimer(r.Time + 10)
						}
						if r.Time%3 != 0 {
							return nil // some watermarks pass with no output at all
						}
						return out.Emit(stream.At(wmProbe{At: r.Time, WM: c.Watermark()}, r.Time))
					},
					OnTimer: func(c *stream.KeyedContext[int64], tm stream.Timer, out stream.Emitter[wmProbe]) error {
						return out.Emit(stream.At(wmProbe{Timer: true, At: tm.Time, WM: c.Watermark()}, tm.Time))
					},
				}
			})
			sink := &probeSink{last: stream.MinTime}
			stream.To(out, sink)
			require.NoError(t, p.Run(context.Background()))
			require.NotEmpty(t, sink.sent)
			timers := 0
			for i, s := range sink.sent {
				seen := sink.seen[i]
				if !s.Timer {
					require.Equal(t, s.WM, seen.WM, "record at %v", s.At)
					continue
				}
				timers++
				require.GreaterOrEqual(t, s.WM, s.At, "timer at %v fired early", s.At)
				require.Less(t, seen.WM, s.At, "timer at %v arrived behind its watermark", s.At)
			}
			require.Positive(t, timers)
		})
	}
}
