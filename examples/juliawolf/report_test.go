package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWaveLinesMatchTheDesign(t *testing.T) {
	t.Parallel()
	want := []string{
		"  Wave 1 -- New Release Spike      (1,200 events)... done",
		"  Wave 2 -- Weekend Surge          (2,500 events)... done",
		"  Wave 3 -- Steady State Baseline    (800 events)... done",
	}
	for i, w := range NewGenerator(DefaultCatalog(), DefaultEvents, 1).Waves() {
		assert.Equal(t, want[i], waveLine(w))
	}
}

func TestLeaderboardLinesMatchTheDesign(t *testing.T) {
	t.Parallel()
	s := &Snapshot{Window: time.Minute, Leaderboard: []LeaderRow{
		{Rank: 1, TrackID: "jw-01", Title: "In My Room", Streams: 1083, CompletionRate: 0.59, TopPlatform: "Tidal"},
		{Rank: 2, TrackID: "jw-02", Title: "Kill You Off", Streams: 565, CompletionRate: 0.5, TopPlatform: "Spotify"},
		{Rank: 10, TrackID: "jw-09", Title: "Rookie of the Year", Streams: 1, TopPlatform: "Deezer"},
	}}
	var b strings.Builder
	writeReport(&b, s)
	out := b.String()
	assert.Contains(t, out, "  1. In My Room         ██████████████████████████████  1083 streams  complete: 59.0%  top: Tidal\n")
	assert.Contains(t, out, "  2. Kill You Off       ████████████████░░░░░░░░░░░░░░   565 streams  complete: 50.0%  top: Spotify\n")
	assert.Contains(t, out, "  10. Rookie of the Ye… ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░     1 streams", "bars stay aligned")
	assert.Contains(t, out, "  Throughput (last 60s)  : n/a")
}

func TestBar(t *testing.T) {
	t.Parallel()
	assert.Equal(t, strings.Repeat("█", 16)+strings.Repeat("░", 14), bar(565, 1083, 30))
	assert.Equal(t, strings.Repeat("█", 30), bar(7, 7, 30))
	assert.Equal(t, strings.Repeat("░", 30), bar(0, 7, 30))
	assert.Equal(t, strings.Repeat("░", 30), bar(0, 0, 30))
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "0", commas(0))
	assert.Equal(t, "999", commas(999))
	assert.Equal(t, "4,500", commas(4500))
	assert.Equal(t, "100,000,000", commas(100_000_000))
	assert.Equal(t, "-1,234", commas(-1234))
	assert.Equal(t, "3:03", clock(183000))
	assert.Equal(t, "0:00", clock(0))
	assert.Equal(t, "1:00", clock(59500))
	assert.Equal(t, "60s", shortDuration(time.Minute))
	assert.Equal(t, "0s", shortDuration(0))
	assert.Equal(t, "5s", shortDuration(5*time.Second))
	assert.Equal(t, "5m", shortDuration(5*time.Minute))
	assert.Equal(t, "1h30m", shortDuration(90*time.Minute))
	assert.Equal(t, "1.5s", shortDuration(1500*time.Millisecond))
	assert.Equal(t, "ab  ", fitRunes("ab", 4))
	assert.Equal(t, "éé…", fitRunes("éééé", 3))
}
