package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"github.com/reugn/go-streams/extension"
	"github.com/reugn/go-streams/flow"
	"github.com/samber/ro"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// windowed is one windowed workload: its events and windows.
type windowed struct {
	events      []Event
	size, slide int64
	want        Counts
	assigner    window.Assigner
}

// check compares got with the workload's answer. Exact implementations
// must match; the others report the share of events that reached their
// right window.
func (w *windowed) check(b *testing.B, got Counts, exact bool) {
	b.Helper()
	pct, ok := got.Correct(w.want)
	b.ReportMetric(pct, "correct-%")
	if exact && !ok {
		b.Fatalf("wrong counts: %.2f%% of the events in their right window, %d windows, want %d", pct, len(got), len(w.want))
	}
}

func (w *windowed) run(b *testing.B) {
	recs := records(w.events)
	b.Run("handwritten", func(b *testing.B) {
		defer measure(b, len(w.events))()
		var got Counts
		for b.Loop() {
			got = Counts{}
			win := newWindower(w.size, w.slide, func(k WindowKey, n int64) { got[k] = n })
			for _, e := range w.events {
				win.add(e)
			}
			win.end()
		}
		w.check(b, got, true)
	})
	b.Run("channels", func(b *testing.B) {
		defer measure(b, len(w.events))()
		type result struct {
			k WindowKey
			n int64
		}
		var got Counts
		for b.Loop() {
			in, out := make(chan Event, 64), make(chan result, 64)
			go func() {
				for _, e := range w.events {
					in <- e
				}
				close(in)
			}()
			go func() {
				win := newWindower(w.size, w.slide, func(k WindowKey, n int64) { out <- result{k, n} })
				for e := range in {
					win.add(e)
				}
				win.end()
				close(out)
			}()
			got = Counts{}
			for r := range out {
				got[r.k] = r.n
			}
		}
		w.check(b, got, true)
	})
	for _, par := range []int{1, 2} {
		name := "brook"
		if par > 1 {
			name = "brook-parallel2"
		}
		b.Run(name, func(b *testing.B) {
			defer measure(b, len(w.events))()
			var got Counts
			for b.Loop() {
				got = Counts{}
				p := stream.New(stream.WithParallelism(par))
				src := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[Event](time.Duration(lateness))))
				keyed := stream.KeyBy(src, func(e Event) int { return e.Key })
				counts := window.Aggregate(keyed, w.assigner, window.Count[Event]())
				stream.To(counts.Stream, stream.SinkFunc[window.Result[int, int64]](func(_ context.Context, r stream.Record[window.Result[int, int64]]) error {
					got[WindowKey{int64(r.Value.Start), r.Value.Key}] = r.Value.Value
					return nil
				}))
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			w.check(b, got, true)
		})
	}
	b.Run("go-streams", func(b *testing.B) {
		// go-streams' event-time sliding window (tumbling when slide ==
		// size) on all events, counted per key in the sink: the closest it
		// has. It emits on processing-time ticks, so windows come out
		// early and late events are dropped.
		defer measure(b, len(w.events))()
		var got Counts
		for b.Loop() {
			in, out := make(chan any), make(chan any)
			go func() {
				for _, e := range w.events {
					in <- e
				}
				close(in)
			}()
			win := flow.NewSlidingWindowWithOpts(time.Duration(w.size), time.Duration(w.slide),
				flow.SlidingWindowOpts[Event]{EventTimeExtractor: Event.EventTime})
			go extension.NewChanSource(in).Via(win).To(extension.NewChanSink(out))
			got = Counts{}
			for x := range out {
				es := x.([]Event)
				if len(es) == 0 {
					continue
				}
				start := floorTo(es[0].Time, w.slide) // the window's start, as its first event says
				for _, e := range es {
					got[WindowKey{start, e.Key}]++
				}
			}
		}
		w.check(b, got, false)
	})
	b.Run("rxgo", func(b *testing.B) {
		// No event-time window: the windows are counted by hand in Reduce
		// and come out when the input ends.
		defer measure(b, len(w.events))()
		var got Counts
		for b.Loop() {
			in := make(chan rxgo.Item)
			go func() {
				for _, e := range w.events {
					in <- rxgo.Of(e)
				}
				close(in)
			}()
			item, err := rxgo.FromChannel(in).Reduce(func(_ context.Context, acc, x any) (any, error) {
				c, _ := acc.(Counts)
				if c == nil {
					c = Counts{}
				}
				return foldCounts(c, x.(Event), w.size, w.slide), nil
			}).Get()
			if err != nil {
				b.Fatal(err)
			}
			got = item.V.(Counts)
		}
		w.check(b, got, true)
	})
	b.Run("samber-ro", func(b *testing.B) {
		// As rxgo: windows counted by hand in Reduce.
		defer measure(b, len(w.events))()
		var got Counts
		for b.Loop() {
			res, err := ro.Collect(ro.Pipe1(ro.FromSlice(w.events),
				ro.Reduce(func(c Counts, e Event) Counts { return foldCounts(c, e, w.size, w.slide) }, Counts{})))
			if err != nil {
				b.Fatal(err)
			}
			if len(res) != 1 {
				b.Fatalf("%d results", len(res))
			}
			got = res[0]
		}
		w.check(b, got, true)
	})
}

// BenchmarkW2 counts events per key per 1-minute tumbling window in event
// time (1M events, 1,000 keys, 100 minutes).
func BenchmarkW2(b *testing.B) {
	w := &windowed{events: w2Events, size: w2Size, slide: w2Size, assigner: window.Tumbling(time.Minute)}
	w.want = reference(w.events, w.size, w.slide)
	w.run(b)
}

// BenchmarkW3 counts events per key per sliding window of 10 s every 2 s
// in event time (1M events, 1,000 keys, 1,000 s).
func BenchmarkW3(b *testing.B) {
	w := &windowed{events: w3Events, size: w3Size, slide: w3Slide, assigner: window.Sliding(10*time.Second, 2*time.Second)}
	w.want = reference(w.events, w.size, w.slide)
	w.run(b)
}
