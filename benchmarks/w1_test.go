package benchmarks

import (
	"context"
	"testing"

	"github.com/reactivex/rxgo/v2"
	"github.com/reugn/go-streams/extension"
	"github.com/reugn/go-streams/flow"
	"github.com/samber/ro"

	"github.com/brook-streams/brook/stream"
)

// measure reports allocations; the function it returns, deferred at the
// start of a benchmark, reports events/s and events per core-second (n
// events per iteration; CPU time of the whole process, every goroutine and
// the garbage collector included, so a pipeline's helper goroutines count).
// On a machine shared with other work, events per core-second is the
// steadier figure; events/s shows what parallel goroutines gain.
func measure(b *testing.B, n int) func() {
	b.ReportAllocs()
	cpu0, ok := cpuTime()
	return func() {
		events := float64(n) * float64(b.N)
		b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
		if cpu1, _ := cpuTime(); ok && cpu1 > cpu0 {
			b.ReportMetric(events/(cpu1-cpu0).Seconds(), "events/core-s")
		}
	}
}

func checkSum(b *testing.B, got int64) {
	b.Helper()
	if got != w1Want {
		b.Fatalf("sum %d, want %d", got, w1Want)
	}
}

// BenchmarkW1 is map (x*2) → filter (x%3 != 0) → sum over 1M int64.
func BenchmarkW1(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			sum = 0
			for _, x := range w1Input {
				if y := x * 2; y%3 != 0 {
					sum += y
				}
			}
		}
		checkSum(b, sum)
	})
	b.Run("channels", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			src, mapped, kept := make(chan int64, 64), make(chan int64, 64), make(chan int64, 64)
			go func() {
				for _, x := range w1Input {
					src <- x
				}
				close(src)
			}()
			go func() {
				for x := range src {
					mapped <- x * 2
				}
				close(mapped)
			}()
			go func() {
				for x := range mapped {
					if x%3 != 0 {
						kept <- x
					}
				}
				close(kept)
			}()
			sum = 0
			for x := range kept {
				sum += x
			}
		}
		checkSum(b, sum)
	})
	b.Run("brook", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			sum = 0
			p := stream.New(stream.WithParallelism(1))
			s := stream.Map(stream.From(p, stream.Slice(w1Input)), func(x int64) int64 { return x * 2 })
			s = stream.Filter(s, func(x int64) bool { return x%3 != 0 })
			stream.To(s, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
				sum += r.Value
				return nil
			}))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		checkSum(b, sum)
	})
	b.Run("go-streams", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			in, out := make(chan any), make(chan any)
			go func() {
				for _, x := range w1Input {
					in <- x
				}
				close(in)
			}()
			go extension.NewChanSource(in).
				Via(flow.NewMap(func(x int64) int64 { return x * 2 }, 1)).
				Via(flow.NewFilter(func(x int64) bool { return x%3 != 0 }, 1)).
				To(extension.NewChanSink(out))
			sum = 0
			for x := range out {
				sum += x.(int64)
			}
		}
		checkSum(b, sum)
	})
	b.Run("rxgo", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			in := make(chan rxgo.Item)
			go func() {
				for _, x := range w1Input {
					in <- rxgo.Of(x)
				}
				close(in)
			}()
			item, err := rxgo.FromChannel(in).
				Map(func(_ context.Context, x any) (any, error) { return x.(int64) * 2, nil }).
				Filter(func(x any) bool { return x.(int64)%3 != 0 }).
				SumInt64().Get()
			if err != nil {
				b.Fatal(err)
			}
			sum = item.V.(int64)
		}
		checkSum(b, sum)
	})
	b.Run("samber-ro", func(b *testing.B) {
		defer measure(b, w1N)()
		var sum int64
		for b.Loop() {
			res, err := ro.Collect(ro.Pipe3(ro.FromSlice(w1Input),
				ro.Map(func(x int64) int64 { return x * 2 }),
				ro.Filter(func(x int64) bool { return x%3 != 0 }),
				ro.Sum[int64]()))
			if err != nil {
				b.Fatal(err)
			}
			if len(res) != 1 {
				b.Fatalf("%d sums", len(res))
			}
			sum = res[0]
		}
		checkSum(b, sum)
	})
}
