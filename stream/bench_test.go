package stream_test

import (
	"context"
	"testing"

	"github.com/brook-streams/brook/stream"
)

const chainN = 1_000_000

var chainInput = ints(chainN)

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
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
		reportEvents(b, chainN)
	})
	b.Run("channels", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
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
		reportEvents(b, chainN)
	})
	b.Run("brook", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		for b.Loop() {
			sum = 0
			p := stream.New(stream.WithParallelism(1))
			s := stream.From(p, stream.Slice(chainInput))
			s = stream.Map(s, func(x int64) int64 { return x * 2 })
			s = stream.Filter(s, func(x int64) bool { return x%3 != 0 })
			stream.To(s, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
				sum += r.Value
				return nil
			}))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		if sum != want {
			b.Fatalf("sum %d, want %d", sum, want)
		}
		reportEvents(b, chainN)
	})
}

// BenchmarkExchange measures a KeyBy hop (one upstream, one downstream
// instance) per record at several batch sizes, beside the same chain without
// the hop.
func BenchmarkExchange(b *testing.B) {
	run := func(b *testing.B, hop bool, batch int) {
		b.ReportAllocs()
		var sum int64
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
		reportEvents(b, chainN)
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
