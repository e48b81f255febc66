package prom_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/prom"
)

// BenchmarkPipelineMetrics: 1,000,000 records through Map -> KeyBy(2) ->
// sink, with the no-op metrics hook (the baseline) and with prom.
func BenchmarkPipelineMetrics(b *testing.B) {
	const n = 1_000_000
	run := func(b *testing.B, m stream.Metrics) {
		b.ReportAllocs()
		for b.Loop() {
			p := stream.New(stream.WithMetrics(m), stream.WithParallelism(2))
			s := stream.From(p, stream.Generate(n, func(i int64) stream.Record[int64] { return stream.At(i, stream.Time(i)) }))
			k := stream.KeyBy(stream.Map(s, func(v int64) int64 { return v * 3 }), func(v int64) int64 { return v })
			stream.To(k.Stream, stream.Discard[int64]())
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("nop", func(b *testing.B) { run(b, stream.NopMetrics{}) })
	b.Run("prom", func(b *testing.B) {
		m, err := prom.New(prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		run(b, m)
	})
}
