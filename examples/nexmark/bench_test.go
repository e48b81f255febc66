package main

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/brook-streams/brook/stream"
)

// benchEvents is the number of events one benchmark iteration runs.
const benchEvents = 1_000_000

// BenchmarkQuery runs every query over benchEvents generated events (the
// suite's rate: 10 M events per second of event time) and reports events/s:
//
//   - brook-p1: the pipeline at parallelism 1 (with GOMAXPROCS=1, one core);
//   - brook-pN: the pipeline at parallelism GOMAXPROCS;
//   - generate-only: the hand-written ceiling, a loop that generates the
//     events and counts the bids (which is all q0 does): what any query
//     costs at least on one core;
//   - batch: a hand-written batch computation, generating the events into
//     a slice and computing the query's rows from it (the tests' oracle).
//
// Beside events/s (per second of wall time) each reports events per
// core-second, events per second of the process's CPU time (all
// goroutines, the garbage collector included): the measure of the nexmark
// suite's Throughput/Cores, and the one a shared machine disturbs least.
//
// Run one query with e.g. go test -bench 'Query/q5/' -benchtime 3x.
func BenchmarkQuery(b *testing.B) {
	g, err := NewGenerator(DefaultGeneratorConfig())
	if err != nil {
		b.Fatal(err)
	}
	batch := map[string]func([]Event) int{
		"q0": count(batchQ0), "q1": count(batchQ1), "q2": count(batchQ2), "q3": count(batchQ3),
		"q4": count(batchQ4), "q5": count(batchQ5), "q7": count(batchQ7), "q8": count(batchQ8),
		"q11": count(batchQ11), "q13": count(batchQ13),
	}
	for _, q := range Queries {
		b.Run(q.Name, func(b *testing.B) {
			for _, par := range slices.Compact([]int{1, runtime.GOMAXPROCS(0)}) {
				b.Run("brook-p"+strconv.Itoa(par), func(b *testing.B) {
					b.ReportAllocs()
					defer reportRates(b, benchEvents)()
					for b.Loop() {
						p := stream.New(stream.WithParallelism(par))
						q.Attach(Events(p, g, benchEvents, par, DefaultChunk), &RowSink{})
						if err := p.Run(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("generate-only", func(b *testing.B) {
				b.ReportAllocs()
				defer reportRates(b, benchEvents)()
				bidsSeen := 0
				for b.Loop() {
					seq := g.Sequence() // as the source reads the generator
					for i := range int64(benchEvents) {
						if e := seq.Event(i); e.Kind == KindBid {
							bidsSeen++
						}
					}
				}
				if bidsSeen != b.N*benchEvents/50*46 {
					b.Fatalf("%d bids", bidsSeen)
				}
			})
			b.Run("batch", func(b *testing.B) {
				b.ReportAllocs()
				events := make([]Event, benchEvents)
				defer reportRates(b, benchEvents)()
				for b.Loop() {
					for i := range events {
						events[i] = g.Event(int64(i))
					}
					if batch[q.Name](events) < 0 {
						b.Fatal("unreachable")
					}
				}
			})
		})
	}
}

// reportRates starts measuring the process's CPU time; the function it
// returns, called after the benchmark loop, reports events/s and events per
// core-second for n events per iteration.
func reportRates(b *testing.B, n int) func() {
	cpu0, ok := cpuTime()
	return func() {
		events := float64(n) * float64(b.N)
		b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
		if cpu1, _ := cpuTime(); ok && cpu1 > cpu0 {
			b.ReportMetric(events/(cpu1-cpu0).Seconds(), "events/core-s")
		}
	}
}

func count[T any](f func([]Event) []T) func([]Event) int {
	return func(events []Event) int { return len(f(events)) }
}
