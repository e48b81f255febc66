package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/brook-streams/brook/stream"
)

// keyedBenchInput is BenchmarkKeyedState's input: n records of keys
// i*7919 % keys at times i (ns), in buckets of `bucket` ns.
type keyedBenchInput struct {
	n, keys, bucket int64
}

func (in keyedBenchInput) key(i int64) int64 { return i * 7919 % in.keys }

// end is the time of the timer of a record at t: its bucket's last instant.
func (in keyedBenchInput) end(t int64) int64 { return t/in.bucket*in.bucket + in.bucket - 1 }

type handTimer struct{ at, key int64 }

// handKeyed is the hand-written baseline: a count per key in a map and one
// timer per key and bucket in a set and a binary heap, fired as the
// watermark (the last record's time - 1) passes it, emitting and clearing
// the key's count.
func handKeyed(in keyedBenchInput) (results, sum int64) {
	counts := map[int64]int64{}
	set := map[handTimer]struct{}{}
	var h []handTimer
	less := func(a, b handTimer) bool { return a.at < b.at || (a.at == b.at && a.key < b.key) }
	fire := func(wm int64) {
		for len(h) > 0 && h[0].at <= wm {
			top := h[0]
			n := len(h) - 1
			h[0] = h[n]
			h = h[:n]
			for i := 0; ; {
				l := 2*i + 1
				if l >= n {
					break
				}
				m := l
				if r := l + 1; r < n && less(h[r], h[l]) {
					m = r
				}
				if !less(h[m], h[i]) {
					break
				}
				h[i], h[m] = h[m], h[i]
				i = m
			}
			delete(set, top)
			results++
			sum += counts[top.key]
			delete(counts, top.key)
		}
	}
	for i := range in.n {
		k := in.key(i)
		counts[k]++
		tm := handTimer{at: in.end(i), key: k}
		if _, ok := set[tm]; !ok {
			set[tm] = struct{}{}
			h = append(h, tm)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !less(h[j], h[p]) {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
		}
		fire(i - 1)
	}
	fire(int64(stream.MaxTime))
	return results, sum
}

// brookKeyed is the same work as a pipeline on one core: a source with
// BoundedOutOfOrderness(0) watermarks, KeyBy with Parallelism(1), and
// KeyedProcess with a value state and an event-time timer per key.
func brookKeyed(in keyedBenchInput) (results, sum int64, err error) {
	p := stream.New()
	src := stream.From(p, stream.Generate(in.n, func(i int64) stream.Record[int64] { return stream.At(i, stream.Time(i)) }),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	k := stream.KeyBy(src, in.key, stream.Parallelism(1))
	counts := stream.KeyedProcess(k, func(st *stream.KeyedStates) stream.KeyedFuncs[int64, int64, int64] {
		cnt := stream.NewValueState[int64](st, "count")
		return stream.KeyedFuncs[int64, int64, int64]{
			Process: func(c *stream.KeyedContext[int64], r stream.Record[int64], _ stream.Emitter[int64]) error {
				n, _ := cnt.Value()
				cnt.Update(n + 1)
				c.RegisterEventTimer(stream.Time(in.end(int64(r.Time))))
				return nil
			},
			OnTimer: func(c *stream.KeyedContext[int64], t stream.Timer, out stream.Emitter[int64]) error {
				n, _ := cnt.Value()
				cnt.Clear()
				return out.Emit(stream.At(n, t.Time))
			},
		}
	})
	stream.To(counts, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
		results++
		sum += r.Value
		return nil
	}))
	err = p.Run(context.Background())
	return results, sum, err
}

// BenchmarkKeyedState: a value-state counter per key with one event-time
// timer per key and bucket, which emits and clears the count, at 10 keys
// (1,000 records per bucket: 100 per key and timer) and 100,000 keys
// (200,000 per bucket: 2 per key and timer), hand-written beside brook.
// allocs/record counts the allocations of the whole run per input record;
// cpu-ns/event is the CPU time of all goroutines (GC included) per record,
// a fairer figure than events/s on a loaded machine, where brook's two
// goroutines (source, keyed task) wait for cores the hand-written loop
// does not need.
func BenchmarkKeyedState(b *testing.B) {
	for _, in := range []keyedBenchInput{
		{n: 1_000_000, keys: 10, bucket: 1000},
		{n: 1_000_000, keys: 100_000, bucket: 200_000},
	} {
		wantResults, wantSum := handKeyed(in)
		if wantSum != in.n {
			b.Fatalf("hand-written counted %d of %d", wantSum, in.n)
		}
		b.Run(fmt.Sprintf("keys=%d", in.keys), func(b *testing.B) {
			b.Run("handwritten", func(b *testing.B) {
				measureKeyed(b, in.n, func() {
					if r, s := handKeyed(in); r != wantResults || s != wantSum {
						b.Fatalf("%d results counting %d", r, s)
					}
				})
			})
			b.Run("brook", func(b *testing.B) {
				measureKeyed(b, in.n, func() {
					r, s, err := brookKeyed(in)
					if err != nil {
						b.Fatal(err)
					}
					if r != wantResults || s != wantSum {
						b.Fatalf("%d results counting %d, want %d counting %d", r, s, wantResults, wantSum)
					}
				})
			})
		})
	}
}

func measureKeyed(b *testing.B, n int64, run func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := cpuTime()
	for b.Loop() {
		run()
	}
	cpu = cpuTime() - cpu
	runtime.ReadMemStats(&after)
	recs := float64(n) * float64(b.N)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/recs, "cpu-ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/recs, "B/record")
}
