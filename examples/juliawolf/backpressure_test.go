package main

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// TestSlowSinkHoldsBackFastSource runs the generator (millions of plays
// per second) into a sink that spends 20µs on each record, through a KeyBy
// exchange over two instances and the merge into the sink. The bounded
// exchange channels must hold the source back: plays generated but not yet
// written stay a few exchange buffers' worth, and the heap stays flat,
// far below the hundreds of MB that buffering the generator's 5M plays
// would take. It is the one test that measures memory, so it does not run
// in parallel with others.
func TestSlowSinkHoldsBackFastSource(t *testing.T) {
	const total = 5_000_000 // buffering them all: ~150 B each, ~750 MB
	target := int64(20_000) // records the slow sink writes before the run stops
	if testing.Short() {
		target = 8_000
	}
	const (
		maxInFlight = 40_000   // plays generated but not written, at most
		maxGrowth   = 48 << 20 // heap growth allowed over the baseline
	)
	src := NewGeneratorSource(NewGenerator(DefaultCatalog(), total, 1))
	var produced, consumed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := stream.New(stream.WithParallelism(2))
	plays := stream.From(p, stream.Source[Play](src), stream.WithTimestamps(func(pl Play) time.Time { return pl.EventTime }))
	plays = stream.Map(plays, func(pl Play) Play { produced.Add(1); return pl }) // in the source's chain
	keyed := stream.KeyBy(plays, func(pl Play) string { return pl.TrackID })
	ids := stream.Map(keyed.Stream, func(pl Play) string { return pl.EventID })
	stream.To(ids, stream.SinkFunc[string](func(context.Context, stream.Record[string]) error {
		spin := time.Now().Add(20 * time.Microsecond)
		for time.Now().Before(spin) {
		}
		if consumed.Add(1) == target {
			cancel()
		}
		return nil
	}), stream.Name("slow"))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapInuse

	var (
		wg        sync.WaitGroup
		peakHeap  uint64
		peakAhead int64
		samples   int
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			// consumed first: produced only grows, so the difference is
			// never understated.
			c := consumed.Load()
			peakAhead = max(peakAhead, produced.Load()-c)
			samples++
		}
	}()
	err := p.Run(ctx)
	close(done)
	wg.Wait()
	require.ErrorIs(t, err, context.Canceled)
	require.GreaterOrEqual(t, consumed.Load(), target)
	require.Greater(t, samples, 10, "the heap was sampled during the run")
	t.Logf("%d samples: peak heap %.1f MiB over a %.1f MiB baseline; at most %d plays ahead of the sink; %d generated, %d written",
		samples, float64(peakHeap-min(peakHeap, baseline))/(1<<20), float64(baseline)/(1<<20), peakAhead, produced.Load(), consumed.Load())
	assert.Less(t, produced.Load(), int64(total)/10, "the source was held back")
	assert.LessOrEqual(t, peakAhead, int64(maxInFlight), "plays in flight are bounded by the exchange buffers")
	assert.Less(t, peakHeap, baseline+maxGrowth, "the heap stays flat while the sink holds up the source")
}
