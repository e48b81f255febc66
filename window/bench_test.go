package window_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// play is the benchmark record: a listen of a track by a user.
type play struct {
	Track int
	User  int64
}

const benchEvents = 1_000_000

// plays returns n plays of tracks 0-9 in time order, one every step.
func plays(n int, step time.Duration) []stream.Record[play] {
	recs := make([]stream.Record[play], n)
	for i := range recs {
		recs[i] = stream.Record[play]{Time: stream.Time(int64(i) * int64(step)), Value: play{Track: i * 7 % 10, User: int64(i * 31 % 5000)}}
	}
	return recs
}

func reportRate(b *testing.B, events int) {
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/(float64(events)*float64(b.N)), "ns/event")
}

// runBrook runs recs -> KeyBy(key) -> window -> discard, watermarks by
// bounded out-of-orderness 0.
func runBrook[K comparable, Out any](b *testing.B, recs []stream.Record[play], key func(play) K, par int, win func(stream.KeyedStream[K, play]) window.Windowed[K, play, Out]) {
	b.Helper()
	p := stream.New()
	src := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[play](0)))
	w := win(stream.KeyBy(src, key, stream.Parallelism(par)))
	stream.To(w.Stream, stream.Discard[window.Result[K, Out]]())
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func floorTo(t, size stream.Time) stream.Time {
	r := t % size
	if r < 0 {
		r += size
	}
	return t - r
}

type trackWindow struct {
	start stream.Time
	track int
}

// tumblingInput is the input of BenchmarkTumblingCount: laps of the same
// million plays, each lap later than the one before, so a long stream costs
// no more memory than one lap. Play i is of track i*7 % keys, one every step.
type tumblingInput struct {
	recs []stream.Record[play]
	laps int
	span stream.Time // the time one lap covers
}

func newTumblingInput(keys, laps int, step time.Duration) tumblingInput {
	recs := make([]stream.Record[play], benchEvents)
	for i := range recs {
		recs[i] = stream.Record[play]{Time: stream.Time(int64(i) * int64(step)), Value: play{Track: i * 7 % keys}}
	}
	return tumblingInput{recs: recs, laps: laps, span: stream.Time(benchEvents) * stream.Time(step)}
}

func (in tumblingInput) events() int { return len(in.recs) * in.laps }

// source replays the laps into a pipeline, as stream.Records does one slice.
func (in tumblingInput) source() stream.Source[play] {
	return stream.SourceFunc[play](func(ctx context.Context, out stream.SourceOutput[play]) error {
		for lap := range in.laps {
			if err := ctx.Err(); err != nil {
				return err
			}
			shift := stream.Time(lap) * in.span
			for _, r := range in.recs {
				r.Time += shift
				if err := out.Emit(r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// handTumbling is the hand-written baseline of BenchmarkTumblingCount: an
// event-time tumbling count per key as one would write it for this one job,
// with the watermark of bounded out-of-orderness 0 (the time of the record
// before, minus one). The open windows are in a slice by start, each with a
// map of counts; a fired window's map is cleared and reused, so a steady
// stream allocates nothing. It returns the number of results and the sum
// of their counts.
func handTumbling(in tumblingInput, size stream.Time) (results, sum int64) {
	type win struct {
		start  stream.Time
		counts map[int]int64
	}
	var open, free []*win
	fire := func(w stream.Time) {
		for len(open) > 0 && open[0].start+size-1 <= w {
			x := open[0]
			for _, n := range x.counts {
				results++
				sum += n
			}
			clear(x.counts)
			free = append(free, x)
			open = open[1:]
		}
	}
	var cur *win
	for lap := range in.laps {
		shift := stream.Time(lap) * in.span
		for _, r := range in.recs {
			t := r.Time + shift
			fire(t - 1) // the watermark the previous record made
			if cur == nil || t < cur.start || t >= cur.start+size {
				start := floorTo(t, size)
				cur = nil
				for _, x := range open {
					if x.start == start {
						cur = x
					}
				}
				if cur == nil {
					if n := len(free); n > 0 {
						cur, free = free[n-1], free[:n-1]
					} else {
						cur = &win{counts: map[int]int64{}}
					}
					cur.start = start
					open = append(open, cur) // in order: the input is
				}
			}
			cur.counts[r.Value.Track]++
		}
	}
	fire(stream.MaxTime)
	return results, sum
}

// BenchmarkTumblingCount counts plays per track per minute, at 10 and at
// 100,000 keys: a hand-written loop (handTumbling) against brook on one
// core (source, KeyBy with Parallelism(1), window, a sink counting the
// results), and brook on every core. keyby-only is the runtime alone (the
// same source, watermarks and exchange into a sink, no window): brook minus
// keyby-only is the window operator's cost. B/record is the memory
// allocated per input record.
func BenchmarkTumblingCount(b *testing.B) {
	size := stream.Time(time.Minute)
	for _, bc := range []struct {
		keys, laps int
		step       time.Duration
	}{
		{10, 4, 6 * time.Millisecond},        // 10,000 plays a minute, 1,000 per key
		{100_000, 8, 300 * time.Microsecond}, // 200,000 plays a minute, 2 per key
	} {
		in := newTumblingInput(bc.keys, bc.laps, bc.step)
		wantResults, wantSum := handTumbling(in, size)
		if wantSum != int64(in.events()) {
			b.Fatalf("hand-written count %d of %d plays", wantSum, in.events())
		}
		b.Run(fmt.Sprintf("keys=%d", bc.keys), func(b *testing.B) {
			b.Run("handwritten", func(b *testing.B) {
				measure(b, in.events(), func() {
					if n, sum := handTumbling(in, size); n != wantResults || sum != wantSum {
						b.Fatalf("%d results counting %d", n, sum)
					}
				})
			})
			b.Run("keyby-only", func(b *testing.B) {
				measure(b, in.events(), func() {
					p := stream.New()
					src := stream.From(p, in.source(), stream.WithWatermarks(stream.BoundedOutOfOrderness[play](0)))
					stream.To(stream.KeyBy(src, func(p play) int { return p.Track }, stream.Parallelism(1)).Stream, stream.Discard[play]())
					if err := p.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
				})
			})
			for _, par := range []struct {
				name string
				n    int
			}{{"brook", 1}, {"brook-parallel", runtime.GOMAXPROCS(0)}} {
				b.Run(par.name, func(b *testing.B) {
					measure(b, in.events(), func() {
						// The sink is one instance (behind a merge exchange
						// at parallelism 2), and Run returns after it: plain
						// counters, as the hand-written loop keeps.
						var results, sum int64
						p := stream.New()
						src := stream.From(p, in.source(), stream.WithWatermarks(stream.BoundedOutOfOrderness[play](0)))
						k := stream.KeyBy(src, func(p play) int { return p.Track }, stream.Parallelism(par.n))
						w := window.Aggregate(k, window.Tumbling(time.Minute), window.Count[play]())
						stream.To(w.Stream, stream.SinkFunc[window.Result[int, int64]](func(_ context.Context, r stream.Record[window.Result[int, int64]]) error {
							results++
							sum += r.Value.Value
							return nil
						}))
						if err := p.Run(context.Background()); err != nil {
							b.Fatal(err)
						}
						if results != wantResults || sum != wantSum {
							b.Fatalf("%d results counting %d, want %d counting %d", results, sum, wantResults, wantSum)
						}
					})
				})
			}
		})
	}
}

// measure runs one benchmark loop and reports events/s, ns/event, the CPU
// time per event (all goroutines, GC included: on a loaded machine a fairer
// figure than the wall clock) and the bytes allocated per event.
func measure(b *testing.B, events int, run func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := window.CPUTime()
	for b.Loop() {
		run()
	}
	cpu = window.CPUTime() - cpu
	runtime.ReadMemStats(&after)
	n := float64(events) * float64(b.N)
	reportRate(b, events)
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/event")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/record")
}

// BenchmarkSliding counts plays per track in 10 s windows every 2 s: every
// play lands in five windows.
func BenchmarkSliding(b *testing.B) {
	recs := plays(benchEvents, time.Millisecond)
	size, slide := stream.Time(10*time.Second), stream.Time(2*time.Second)
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			counts := map[trackWindow]int64{}
			var emitted int64
			minEnd := stream.MaxTime // the earliest end of an open window
			for _, r := range recs {
				if w := r.Time - 1; w >= minEnd-1 {
					minEnd = stream.MaxTime
					for k, n := range counts {
						if k.start+size-1 <= w {
							emitted += n
							delete(counts, k)
						} else {
							minEnd = min(minEnd, k.start+size)
						}
					}
				}
				for s := floorTo(r.Time, slide); s > r.Time-size; s -= slide {
					counts[trackWindow{s, r.Value.Track}]++
					minEnd = min(minEnd, s+size)
				}
			}
			for _, n := range counts {
				emitted += n
			}
			if emitted != 5*benchEvents {
				b.Fatalf("counted %d", emitted)
			}
		}
		reportRate(b, benchEvents)
	})
	b.Run("brook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			runBrook(b, recs, func(p play) int { return p.Track }, 1, func(k stream.KeyedStream[int, play]) window.Windowed[int, play, int64] {
				return window.Aggregate(k, window.Sliding(10*time.Second, 2*time.Second), window.Count[play]())
			})
		}
		reportRate(b, benchEvents)
	})
}

// BenchmarkSession counts plays per user session (gap 1 min): 5,000 users,
// each playing about every 30 s while active, active in alternate 5-minute
// phases (by user parity), so sessions end and start all the time.
func BenchmarkSession(b *testing.B) {
	recs := make([]stream.Record[play], 0, benchEvents)
	step := int64(3 * time.Millisecond)
	for i := int64(0); len(recs) < benchEvents; i++ {
		t := i * step
		u := i * 7919 % 5000
		if (t/int64(5*time.Minute))%2 != u%2 {
			continue // this user pauses during this phase
		}
		recs = append(recs, stream.Record[play]{Time: stream.Time(t), Value: play{User: u}})
	}
	gap := stream.Time(time.Minute)
	b.Run("handwritten", func(b *testing.B) {
		// A map of open sessions, closing those the watermark has passed
		// every 10 s of event time.
		b.ReportAllocs()
		type sess struct{ end, n int64 }
		for b.Loop() {
			open := map[int64]*sess{}
			var emitted, sessions int64
			scan := stream.MinTime
			for _, r := range recs {
				t := int64(r.Time)
				if w := r.Time - 1; w >= scan {
					for u, s := range open {
						if s.end-1 <= int64(w) {
							emitted += s.n
							sessions++
							delete(open, u)
						}
					}
					scan = w + stream.Time(10*time.Second)
				}
				s := open[r.Value.User]
				if s == nil {
					s = &sess{}
					open[r.Value.User] = s
				}
				s.end = max(s.end, t+int64(gap))
				s.n++
			}
			for _, s := range open {
				emitted += s.n
				sessions++
			}
			if emitted != benchEvents {
				b.Fatalf("counted %d", emitted)
			}
			b.ReportMetric(float64(sessions), "sessions")
		}
		reportRate(b, benchEvents)
	})
	b.Run("brook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			runBrook(b, recs, func(p play) int64 { return p.User }, 1, func(k stream.KeyedStream[int64, play]) window.Windowed[int64, play, int64] {
				return window.Aggregate(k, window.Session(time.Minute), window.Count[play]())
			})
		}
		reportRate(b, benchEvents)
	})
}

// BenchmarkMemoryFlat shows that a window's memory is bounded by the open
// windows, not by the stream's length: the same keyed tumbling count over a
// stream 10x longer peaks at the same live heap. A probe record, seen on the
// window operator's goroutine just before the window fires (so the operator
// has absorbed every earlier record), measures the live heap after a GC.
// B/open-window is the live heap above a probe taken before the first
// record, divided by the open (key, window) pairs at the probe.
func BenchmarkMemoryFlat(b *testing.B) {
	const keys = 1000
	const perWindow = 10_000 // records per 1 s window
	for _, n := range []int64{100_000, 1_000_000} {
		b.Run("events="+itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var peak, base uint64
			for b.Loop() {
				peak, base = 0, 0
				probe := func() uint64 {
					var ms runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&ms)
					return ms.HeapAlloc
				}
				p := stream.New()
				src := stream.Generate(n+1, func(i int64) stream.Record[play] {
					if i == 0 {
						return stream.Record[play]{Time: 0, Value: play{Track: -1}} // baseline probe
					}
					i--
					return stream.Record[play]{Time: stream.Time(i * int64(time.Second) / perWindow), Value: play{Track: int(i % keys), User: i}}
				})
				in := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[play](0)))
				k := stream.KeyBy(in, func(p play) int { return p.Track }, stream.Parallelism(1))
				probed := stream.Filter(stream.Map(k.Stream, func(p play) play {
					switch {
					case p.Track < 0:
						base = probe()
					case p.User%perWindow == perWindow-1 && p.User%(perWindow*10) == perWindow*10-1:
						peak = max(peak, probe())
					}
					return p
				}), func(p play) bool { return p.Track >= 0 })
				w := window.Aggregate(stream.KeyedStream[int, play]{Stream: probed, Key: k.Key}, window.Tumbling(time.Second), window.Count[play]())
				stream.To(w.Stream, stream.Discard[window.Result[int, int64]]())
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak), "peak-live-heap-B")
			b.ReportMetric(float64(peak-base)/keys, "B/open-window")
			reportRate(b, int(n))
		})
	}
}

func itoa(n int64) string {
	switch n {
	case 100_000:
		return "100k"
	case 1_000_000:
		return "1M"
	}
	return "n"
}
