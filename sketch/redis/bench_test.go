package redis

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkPFADD compares adding members in pipelined batches with one PFADD
// round trip per member, in members ("elements") per second.
func BenchmarkPFADD(b *testing.B) {
	client := startRedis(b)
	ctx := context.Background()
	const pool = 1 << 20
	all := members("user-", 0, pool)
	run := func(b *testing.B, perOp int, add func(ms []string) error) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i+perOp > pool {
				i = 0
			}
			if err := add(all[i : i+perOp]); err != nil {
				b.Fatal(err)
			}
			i += perOp
		}
		b.ReportMetric(float64(b.N)*float64(perOp)/b.Elapsed().Seconds(), "elements/s")
	}
	for _, batch := range []int{100, 1000} {
		h, err := NewHLL(client, "bench:pipelined:"+strconv.Itoa(batch), WithBatchSize(batch))
		if err != nil {
			b.Fatal(err)
		}
		perOp := batch * DefaultPipelineDepth
		b.Run("pipelined/batch="+strconv.Itoa(batch), func(b *testing.B) {
			run(b, perOp, func(ms []string) error { return h.Add(ctx, ms...) })
		})
	}
	single, err := NewHLL(client, "bench:single-command")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one-command/batch=1000", func(b *testing.B) {
		run(b, 1000, func(ms []string) error { return single.Add(ctx, ms...) })
	})
	b.Run("baseline/one-PFADD-per-element", func(b *testing.B) {
		run(b, 1, func(ms []string) error { return client.PFAdd(ctx, "bench:one", ms[0]).Err() })
	})
}

func BenchmarkPFCOUNT(b *testing.B) {
	client := startRedis(b)
	ctx := context.Background()
	h, err := NewHLL(client, "bench:count")
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Add(ctx, members("u", 0, 100_000)...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
