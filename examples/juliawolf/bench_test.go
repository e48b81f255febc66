package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkPipeline runs a whole engine on generated plays held in memory
// (so generation is not measured) and reports events/s: "reference" is the
// hand-written single loop, "brook" the library pipeline on one keyed
// instance; the ratio is read from one run.
func BenchmarkPipeline(b *testing.B) {
	cat := DefaultCatalog()
	plays := slices.Collect(NewGenerator(cat, 200_000, DefaultSeed).All())
	cfg := Config{Window: time.Minute, MaxDelay: 5 * time.Second, Parallel: 1}
	engines := []struct {
		name string
		run  Engine
	}{
		{"reference", referenceEngine},
		{"brook", pipelineEngine},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				snap, err := e.run(context.Background(), cfg, &SliceSource{Plays: plays}, cat)
				if err != nil {
					b.Fatal(err)
				}
				if snap.EventsProcessed != int64(len(plays)) {
					b.Fatalf("processed %d of %d", snap.EventsProcessed, len(plays))
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(plays))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkGenerator measures the generator alone.
func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(DefaultCatalog(), 100_000, DefaultSeed)
	b.ReportAllocs()
	for b.Loop() {
		for range g.All() {
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "events/s")
}
