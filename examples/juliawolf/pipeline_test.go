package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// TestTrackPlayFitsACacheLine: a record of a checked play, as it crosses
// to the windows' tasks, is one 64-byte cache line on a 64-bit machine.
func TestTrackPlayFitsACacheLine(t *testing.T) {
	t.Parallel()
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("not a 64-bit machine")
	}
	assert.LessOrEqual(t, unsafe.Sizeof(stream.Record[trackPlay]{}), uintptr(64))
}

// TestPipelineMatchesReference runs the brook pipeline and the hand-written
// reference on the same plays — generated, shuffled further out of order,
// with unknown tracks — under random windows, bounds, lateness and
// parallelism, and requires identical snapshots.
func TestPipelineMatchesReference(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	runs := 12
	if testing.Short() {
		runs = 4
	}
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var plays []Play
		for pl := range NewGenerator(cat, int64(500+rng.IntN(3000)), seed).All() {
			plays = append(plays, pl)
		}
		// More disorder, and a few plays of tracks not in the catalog.
		for i := range plays {
			if rng.IntN(10) == 0 {
				j := min(len(plays)-1, i+rng.IntN(40))
				plays[i], plays[j] = plays[j], plays[i]
			}
			if rng.IntN(200) == 0 {
				plays[i].TrackID = "jw-99"
			}
		}
		cfg := Config{
			Window:          time.Duration(10+rng.IntN(110)) * time.Second,
			MaxDelay:        time.Duration(rng.IntN(20)) * time.Second,
			AllowedLateness: time.Duration(rng.IntN(3)*rng.IntN(60)) * time.Second,
		}
		cfg.Parallel = 1
		want, err := referenceEngine(context.Background(), cfg, &SliceSource{Plays: plays}, cat)
		require.NoError(t, err)
		require.Positive(t, want.EventsProcessed)
		for par := 1; par <= 4; par++ {
			cfg.Parallel = par
			got, err := pipelineEngine(context.Background(), cfg, playsIn(&SliceSource{Plays: plays}), cat)
			require.NoError(t, err)
			msg := fmt.Sprintf("seed %d, window %v, B %v, L %v, parallel %d", seed, cfg.Window, cfg.MaxDelay, cfg.AllowedLateness, par)
			if !assert.Equal(t, want.EventsLate, got.EventsLate, msg) || !assert.Equal(t, want.Windows, got.Windows, msg) {
				continue
			}
			assert.Equal(t, want, got, msg)
			var sum int64
			for _, w := range got.Windows {
				sum += w.Events
			}
			assert.Equal(t, got.EventsProcessed, sum+got.EventsLate, "invariant: %s", msg)
		}
	}
}
