package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
)

// TestTrackStatsExactQuantiles: up to exactPlays plays, however they were
// added and merged, directly or across MarshalBinary, p50 and p95 are exactly the
// plays of rank ⌊q·(n-1)⌋; past that they are the sketch's, within 1 %,
// and the sketch is the one fed every play directly: the times kept exact
// go into it once, when they stop being exact, none lost or counted twice.
func TestTrackStatsExactQuantiles(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n := 1 + rng.IntN(4*exactPlays)
		var ms []int64
		var direct sketch.Quantiles
		parts := make([]*TrackStats, 1+rng.IntN(4))
		for i := range parts {
			parts[i] = &TrackStats{}
		}
		for range n {
			// Half the plays run exactly to the end (the sketch gets them
			// at once, Quantiles.AddN), some past it (complete too, but
			// other values), the rest anywhere.
			v := int64(180_000)
			switch rng.IntN(8) {
			case 0:
				v += rng.Int64N(1000)
			case 1, 2, 3:
				v = 1000 + rng.Int64N(200_000)
			}
			ms = append(ms, v)
			require.NoError(t, direct.Add(float64(v)))
			parts[rng.IntN(len(parts))].Add(Play{MsPlayed: v, Platform: "p", UserID: "u"}, 180_000)
		}
		all := &TrackStats{}
		for _, p := range parts {
			if rng.IntN(2) == 0 { // merged as it is, held-back repeats included
				require.NoError(t, all.Merge(p))
				continue
			}
			b, err := p.MarshalBinary()
			require.NoError(t, err)
			var back TrackStats
			require.NoError(t, back.UnmarshalBinary(b))
			require.NoError(t, all.Merge(&back))
		}
		slices.Sort(ms)
		row := all.Row(Track{TrackID: "t"})
		desc := fmt.Sprintf("trial %d: %d plays in %d parts", trial, n, len(parts))
		assert.Equal(t, n <= exactPlays, row.ExactListenMs, desc)
		if n > exactPlays {
			assert.Equal(t, direct.Count(), all.ListenMs.Count(), desc)
			for _, q := range []float64{0, 0.5, 0.95, 1} {
				want, err := direct.Quantile(q)
				require.NoError(t, err)
				got, err := all.ListenMs.Quantile(q)
				require.NoError(t, err)
				assert.Equal(t, want, got, "%s: sketch p%v", desc, q)
			}
		}
		for _, q := range []struct {
			q   float64
			got int64
		}{{0.5, row.P50MsPlayed}, {0.95, row.P95MsPlayed}} {
			want := ms[int(q.q*float64(n-1))]
			if n <= exactPlays {
				assert.Equal(t, want, q.got, "%s: p%v", desc, q.q)
			} else {
				assert.InEpsilon(t, float64(want), float64(q.got), 0.011, "%s: p%v", desc, q.q)
			}
		}
	}
}

// TestTrackStatsRefusesBadExactTimes: a state whose exact listen times do
// not match its play count is corrupt.
func TestTrackStatsRefusesBadExactTimes(t *testing.T) {
	t.Parallel()
	s := &TrackStats{}
	s.Add(Play{MsPlayed: 5}, 10)
	s.Add(Play{MsPlayed: 7}, 10)
	s.ExactMs = s.ExactMs[:1] // one time for two plays
	b, err := s.MarshalBinary()
	require.NoError(t, err)
	var back TrackStats
	err = back.UnmarshalBinary(b)
	require.ErrorIs(t, err, stream.ErrCorruptCheckpoint)
	assert.Contains(t, err.Error(), "1 exact listen times for 2 plays")
}
