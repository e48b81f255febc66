package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
)

const chainN = 1_000_000

var chainInput = ints(chainN)

// reportEvents reports events/s, and the CPU time of all goroutines (GC
// included) per event since cpu0 (a cpuTime before the loop): on the loaded
// machine the wall clock also counts the time other processes held the
// cores.
func reportEvents(b *testing.B, perOp int, cpu0 time.Duration) {
	events := float64(perOp) * float64(b.N)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/events, "cpu-ns/event")
}

// chainFuncs runs the chain's three functions through function values, as
// a library must: the compiler cannot inline them here.
//
//go:noinline
func chainFuncs(in []int64, fn func(int64) int64, keep func(int64) bool, sink func(context.Context, stream.Record[int64]) error) error {
	ctx := context.Background()
	for _, x := range in {
		if y := fn(x); keep(y) {
			if err := sink(ctx, stream.Record[int64]{Value: y}); err != nil {
				return err
			}
		}
	}
	return nil
}

// chainBatches is brook-batch's three loops (map, filter, sum) over one
// batch, out lent for the map's results.
//
//go:noinline
func chainBatches(in, out []stream.Record[int64]) int64 {
	out = out[:0]
	for _, r := range in {
		out = append(out, stream.Record[int64]{Time: r.Time, Value: r.Value * 2})
	}
	k := 0
	for _, r := range out {
		if r.Value%3 != 0 {
			out[k] = r
			k++
		}
	}
	var sum int64
	for _, r := range out[:k] {
		sum += r.Value
	}
	return sum
}

// BenchmarkChain: 1,000,000 int64 -> Map(x*2) -> Filter(x%3 != 0) -> sum.
func BenchmarkChain(b *testing.B) {
	want := int64(0)
	for _, x := range chainInput {
		if y := x * 2; y%3 != 0 {
			want += y
		}
	}
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		cpu0 := cpuTime()
		for b.Loop() {
			sum = 0
			for _, x := range chainInput {
				y := x * 2
				if y%3 != 0 {
					sum += y
				}
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN, cpu0)
	})
	b.Run("handwritten-funcs", func(b *testing.B) {
		// The floor for calling the user's functions once per record: the
		// hand-written loop with its three functions called through values.
		b.ReportAllocs()
		var sum int64
		fn := func(x int64) int64 { return x * 2 }
		keep := func(x int64) bool { return x%3 != 0 }
		sink := func(_ context.Context, r stream.Record[int64]) error {
			sum += r.Value
			return nil
		}
		cpu0 := cpuTime()
		for b.Loop() {
			sum = 0
			if err := chainFuncs(chainInput, fn, keep, sink); err != nil {
				b.Fatal(err)
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN, cpu0)
	})
	b.Run("handwritten-batches", func(b *testing.B) {
		// The floor for brook-batch: the same three loops over batches of
		// 1024 records, built from the input as the slice source does,
		// without the runtime.
		b.ReportAllocs()
		var sum int64
		in := make([]stream.Record[int64], 1024)
		out := make([]stream.Record[int64], 0, 1024)
		cpu0 := cpuTime()
		for b.Loop() {
			sum = 0
			for vs := chainInput; len(vs) > 0; {
				chunk := vs[:min(len(vs), len(in))]
				vs = vs[len(chunk):]
				rs := in[:len(chunk)]
				for i, v := range chunk {
					rs[i] = stream.Record[int64]{Value: v}
				}
				sum += chainBatches(rs, out)
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN, cpu0)
	})
	b.Run("channels", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		cpu0 := cpuTime()
		for b.Loop() {
			src := make(chan int64)
			mapped := make(chan int64)
			filtered := make(chan int64)
			go func() {
				for _, x := range chainInput {
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
						filtered <- x
					}
				}
				close(filtered)
			}()
			sum = 0
			for x := range filtered {
				sum += x
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN, cpu0)
	})
	// runBrook runs the chain that build adds to a pipeline over
	// chainInput, its sink adding to *sum, and checks the sum.
	runBrook := func(b *testing.B, build func(s stream.Stream[int64], sum *int64)) {
		b.ReportAllocs()
		var sum int64
		cpu0 := cpuTime()
		for b.Loop() {
			sum = 0
			p := stream.New(stream.WithParallelism(1))
			build(stream.From(p, stream.Slice(chainInput)), &sum)
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN, cpu0)
	}
	b.Run("brook", func(b *testing.B) {
		runBrook(b, func(s stream.Stream[int64], sum *int64) {
			s = stream.Map(s, func(x int64) int64 { return x * 2 })
			s = stream.Filter(s, func(x int64) bool { return x%3 != 0 })
			stream.To(s, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
				*sum += r.Value
				return nil
			}))
		})
	})
	b.Run("brook-batch", func(b *testing.B) {
		// The same job through the batch operators: the loops are the
		// user's, one call per batch of up to 1024 records.
		runBrook(b, func(s stream.Stream[int64], sum *int64) {
			s = stream.MapBatch(s, func(in, out []stream.Record[int64]) []stream.Record[int64] {
				for _, r := range in {
					out = append(out, stream.Record[int64]{Time: r.Time, Value: r.Value * 2})
				}
				return out
			})
			s = stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
				k := 0
				for _, r := range rs {
					if r.Value%3 != 0 {
						rs[k] = r
						k++
					}
				}
				return rs[:k]
			})
			stream.To(s, stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
				for _, r := range rs {
					*sum += r.Value
				}
				return nil
			}))
		})
	})
	b.Run("brook-one-loop", func(b *testing.B) {
		// Not the job above but the runtime's own floor: the map, the
		// filter and the sum in one user loop, a batch sink's, so that
		// what is left is the source building batches of records and
		// one call per batch.
		runBrook(b, func(s stream.Stream[int64], sum *int64) {
			stream.To(s, stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
				for _, r := range rs {
					if y := r.Value * 2; y%3 != 0 {
						*sum += y
					}
				}
				return nil
			}))
		})
	})
}

// BenchmarkExchange measures a KeyBy hop (one upstream, one downstream
// instance) per record at several batch sizes, beside the same chain without
// the hop.
func BenchmarkExchange(b *testing.B) {
	run := func(b *testing.B, hop bool, batch int) {
		b.ReportAllocs()
		var sum int64
		cpu0 := cpuTime()
		for b.Loop() {
			sum = 0
			p := stream.New(stream.WithParallelism(1), stream.WithBatchSize(batch))
			s := stream.From(p, stream.Slice(chainInput))
			if hop {
				s = stream.KeyBy(s, func(x int64) int64 { return x }).Stream
			}
			stream.To(s, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
				sum += r.Value
				return nil
			}))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		if sum != int64(chainN)*(chainN-1)/2 {
			b.Fatal("wrong sum")
		}
		reportEvents(b, chainN, cpu0)
	}
	b.Run("no-hop", func(b *testing.B) { run(b, false, 256) })
	for _, bs := range []int{1, 64, 1024} {
		b.Run("keyby/batch="+itoa(bs), func(b *testing.B) { run(b, true, bs) })
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
