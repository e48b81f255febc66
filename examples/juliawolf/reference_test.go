package main

import (
	"bytes"
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// at returns a play of track jw-01 by u-1 at t nanoseconds after the epoch.
func at(t time.Duration) Play {
	return Play{EventID: "e", UserID: "u-1", TrackID: "jw-01", Platform: "Spotify", EventTime: time.Unix(0, int64(t)).UTC(), MsPlayed: 1000}
}

func runReference(t *testing.T, cfg Config, plays ...Play) *Snapshot {
	t.Helper()
	for i := range plays {
		plays[i].Line = int64(i + 1)
	}
	snap, err := referenceEngine(context.Background(), cfg, &SliceSource{Plays: plays}, DefaultCatalog())
	require.NoError(t, err)
	checkInvariant(t, snap)
	return snap
}

// checkInvariant asserts events_processed = sum(windows[].events) + events_late.
func checkInvariant(t *testing.T, s *Snapshot) {
	t.Helper()
	var sum int64
	for _, w := range s.Windows {
		sum += w.Events
	}
	assert.Equal(t, s.EventsProcessed, sum+s.EventsLate, "events_processed = sum(windows.events) + events_late")
}

type winCount struct {
	start  time.Duration
	events int64
}

func windowCounts(s *Snapshot) []winCount {
	var out []winCount
	for _, w := range s.Windows {
		out = append(out, winCount{time.Duration(w.Start.UnixNano()), w.Events})
	}
	return out
}

// TestReferenceBoundaries checks window assignment, watermark and lateness
// at their exact boundaries, on hand-computed cases: window 10s, B 2s.
func TestReferenceBoundaries(t *testing.T) {
	t.Parallel()
	const s, ns = time.Second, time.Nanosecond
	cfg := Config{Window: 10 * s, MaxDelay: 2 * s}
	lat3 := cfg
	lat3.AllowedLateness = 3 * s
	b0 := cfg
	b0.MaxDelay = 0
	tests := []struct {
		name    string
		cfg     Config
		plays   []Play
		windows []winCount
		late    int64
	}{
		{"exactly e-1 is the last instant of [0,10s)", cfg, []Play{at(10*s - ns)}, []winCount{{0, 1}}, 0},
		{"exactly e opens [10s,20s)", cfg, []Play{at(10 * s)}, []winCount{{10 * s, 1}}, 0},
		{"start is inclusive", cfg, []Play{at(0), at(20 * s)}, []winCount{{0, 1}, {20 * s, 1}}, 0},
		// W = maxSeen - B - 1ns; [0,10s) closes when W >= 10s-1ns, i.e. maxSeen >= 12s.
		{"closed once maxSeen = e+B: W = e-1", cfg, []Play{at(1 * s), at(12 * s), at(5 * s)}, []winCount{{0, 1}, {10 * s, 1}}, 1},
		{"open 1ns before: W = e-2", cfg, []Play{at(1 * s), at(12*s - ns), at(5 * s)}, []winCount{{0, 2}, {10 * s, 1}}, 0},
		{"a late play's last instant e-1 is late too", cfg, []Play{at(12 * s), at(10*s - ns)}, []winCount{{10 * s, 1}}, 1},
		{"a late play opens no window", cfg, []Play{at(100 * s), at(1 * s), at(2 * s)}, []winCount{{100 * s, 1}}, 2},
		{"out of order within B is on time", cfg, []Play{at(11 * s), at(9 * s), at(13 * s), at(12 * s)}, []winCount{{0, 1}, {10 * s, 3}}, 0},
		// With L = 3s, [0,10s) closes when W >= 13s-1ns, i.e. maxSeen >= 15s.
		{"lateness: still open at W = e-1+L-1", lat3, []Play{at(1 * s), at(15*s - ns), at(5 * s)}, []winCount{{0, 2}, {10 * s, 1}}, 0},
		{"lateness: closed at W = e-1+L", lat3, []Play{at(1 * s), at(15 * s), at(5 * s)}, []winCount{{0, 1}, {10 * s, 1}}, 1},
		{"lateness: fired but not closed still counts", lat3, []Play{at(1 * s), at(12 * s), at(9 * s), at(15 * s), at(9 * s)}, []winCount{{0, 2}, {10 * s, 2}}, 1},
		{"B=0: 1ns behind a closed window is late", b0, []Play{at(10 * s), at(10*s - ns)}, []winCount{{10 * s, 1}}, 1},
		{"B=0: equal times are on time", b0, []Play{at(10 * s), at(10 * s)}, []winCount{{10 * s, 2}}, 0},
		{"negative times floor: -1ns is in [-10s,0)", cfg, []Play{at(-ns)}, []winCount{{-10 * s, 1}}, 0},
		{"negative times floor: -10s starts [-10s,0)", cfg, []Play{at(-10 * s)}, []winCount{{-10 * s, 1}}, 0},
		{"negative times floor: -10s-1ns is in [-20s,-10s)", cfg, []Play{at(-10*s - ns)}, []winCount{{-20 * s, 1}}, 0},
		{"first play is never late", cfg, []Play{at(-1000 * s)}, []winCount{{-1000 * s, 1}}, 0},
		{"end of input closes every window", cfg, []Play{at(1 * s), at(11 * s), at(21 * s)}, []winCount{{0, 1}, {10 * s, 1}, {20 * s, 1}}, 0},
		{"no plays", cfg, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			snap := runReference(t, tc.cfg, tc.plays...)
			assert.Equal(t, tc.windows, windowCounts(snap))
			assert.Equal(t, tc.late, snap.EventsLate)
			assert.Equal(t, int64(len(tc.plays)), snap.EventsProcessed)
			for _, w := range snap.Windows {
				assert.Equal(t, tc.cfg.Window, w.End.Sub(w.Start))
			}
		})
	}
}

func TestReferenceFields(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	jw01, _ := cat.Lookup("jw-01")
	p := func(sec int, user, track, platform string, ms int64) Play {
		return Play{EventID: "e", UserID: user, TrackID: track, Platform: platform, EventTime: time.Unix(int64(sec), 0), MsPlayed: ms}
	}
	plays := []Play{
		p(1, "u-1", "jw-02", "Tidal", 5000),
		p(2, "u-2", "jw-01", "Tidal", jw01.DurationMs), // complete: ms_played == duration
		p(3, "u-1", "jw-01", "Apple Music", jw01.DurationMs-1),
		p(4, "u-3", "jw-99", "Spotify", 1000), // unknown track: invalid
		p(5, "u-3", "jw-02", "Apple Music", 7000),
		p(61, "u-4", "jw-03", "Spotify", 1),
		p(1, "u-5", "jw-03", "Spotify", 2), // late: [0,60s) closed at maxSeen 61s (B=0)
	}
	var dead bytes.Buffer
	dl := NewDeadLetterWriter(&dead)
	for i := range plays {
		plays[i].Line = int64(i + 1)
	}
	snap, err := referenceWithDeadLetters(context.Background(), Config{Window: time.Minute}, &SliceSource{Plays: plays}, DefaultCatalog(), dl)
	require.NoError(t, err)
	checkInvariant(t, snap)
	require.NoError(t, dl.Flush())

	assert.Equal(t, int64(6), snap.EventsProcessed)
	assert.Equal(t, int64(1), snap.EventsInvalid)
	assert.Equal(t, int64(1), snap.EventsLate)
	assert.Equal(t, 3, snap.UniqueTracks)
	assert.Equal(t, uint64(5), snap.UniqueListeners)
	assert.Equal(t, 60.0, snap.WindowSeconds)
	assert.Equal(t, `{"line":4,"reason":"unknown track_id \"jw-99\"","raw":"{\"event_id\":\"e\",\"user_id\":\"u-3\",\"track_id\":\"jw-99\",\"platform\":\"Spotify\",\"event_time\":\"1970-01-01T00:00:04.000Z\",\"ms_played\":1000}"}`+"\n", dead.String())

	require.Len(t, snap.Windows, 2)
	// 2 plays each of jw-01 and jw-02: the tie goes to the smaller id.
	assert.Equal(t, WindowRow{Start: time.Unix(0, 0).UTC(), End: time.Unix(60, 0).UTC(), Events: 4, UniqueListeners: 3, TopTrack: "jw-01"}, snap.Windows[0])
	assert.Equal(t, WindowRow{Start: time.Unix(60, 0).UTC(), End: time.Unix(120, 0).UTC(), Events: 1, UniqueListeners: 1, TopTrack: "jw-03"}, snap.Windows[1])
	require.NotNil(t, snap.Throughput)
	assert.Equal(t, Throughput{WindowStart: time.Unix(60, 0).UTC(), Events: 1, EventsPerSec: 1.0 / 60}, *snap.Throughput)

	require.Len(t, snap.Leaderboard, 3)
	// jw-01, jw-02 and jw-03 have 2 streams each: ranked by track_id.
	want := []struct {
		id         string
		completion float64
		platform   string
		listeners  uint64
	}{
		{"jw-01", 0.5, "Apple Music", 2}, // Apple Music and Tidal tie: the smaller name
		{"jw-02", 0, "Apple Music", 2},
		{"jw-03", 0, "Spotify", 2}, // the late play counts in the all-time figures
	}
	for i, w := range want {
		r := snap.Leaderboard[i]
		assert.Equal(t, i+1, r.Rank)
		assert.Equal(t, w.id, r.TrackID)
		assert.Equal(t, int64(2), r.Streams)
		assert.Equal(t, w.completion, r.CompletionRate, w.id)
		assert.Equal(t, w.platform, r.TopPlatform, w.id)
		assert.Equal(t, w.listeners, r.UniqueListeners, w.id)
	}
	assert.Equal(t, "In My Room", snap.Leaderboard[0].Title)
	// jw-01's two plays: duration-1 and duration; p50 is the lower (rank 0).
	assert.InEpsilon(t, float64(jw01.DurationMs-1), float64(snap.Leaderboard[0].P50MsPlayed), 0.01)
	assert.InEpsilon(t, float64(jw01.DurationMs), float64(snap.Leaderboard[0].P95MsPlayed), 0.01)
}

// TestReferenceInvalidPlaysHoldNoWatermark: a play enrichment rejects is
// invalid, so, like an undecodable line, it moves no watermark: "largest
// event time seen" ranges over valid plays only.
func TestReferenceInvalidPlaysHoldNoWatermark(t *testing.T) {
	t.Parallel()
	unknown := at(100 * time.Second)
	unknown.TrackID = "jw-99"
	snap := runReference(t, Config{Window: 10 * time.Second, MaxDelay: 2 * time.Second},
		at(1*time.Second), unknown, at(2*time.Second))
	assert.Equal(t, int64(0), snap.EventsLate)
	assert.Equal(t, int64(1), snap.EventsInvalid)
	assert.Equal(t, []winCount{{0, 2}}, windowCounts(snap))
}

func TestReferenceCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gen := NewGenerator(DefaultCatalog(), 10000, 1)
	_, err := referenceEngine(ctx, Config{Window: time.Minute}, generated{gen}, DefaultCatalog())
	assert.ErrorIs(t, err, context.Canceled)
}

// TestReferenceAgainstBruteForce compares the reference engine with a
// brute-force restatement of the rules on random streams: for every play,
// the watermark is recomputed from all earlier plays, and windows are
// grouped from scratch.
func TestReferenceAgainstBruteForce(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 99))
		cfg := Config{
			Window:          time.Duration(1+r.IntN(20)) * time.Second,
			MaxDelay:        time.Duration(r.IntN(5000)) * time.Millisecond,
			AllowedLateness: time.Duration(r.IntN(3)*r.IntN(4000)) * time.Millisecond,
		}
		n := r.IntN(400)
		plays := make([]Play, n)
		clock := int64(r.IntN(100)-50) * int64(time.Second)
		for i := range plays {
			clock += r.Int64N(int64(300 * time.Millisecond))
			ts := clock - r.Int64N(int64(6*time.Second))
			if r.IntN(20) == 0 {
				ts -= r.Int64N(int64(time.Minute))
			}
			ts = ts / int64(time.Millisecond) * int64(time.Millisecond) // hit boundaries often
			track := cat.Track(r.IntN(cat.Len())).TrackID
			if r.IntN(30) == 0 {
				track = "jw-404" // invalid: rejected by enrichment
			}
			plays[i] = Play{
				EventID:   "e",
				UserID:    formatID("u-", r.Int64N(30), 3),
				TrackID:   track,
				Platform:  platforms[r.IntN(3)].name,
				EventTime: time.Unix(0, ts).UTC(),
				MsPlayed:  r.Int64N(200000),
			}
		}
		got := runReference(t, cfg, plays...)
		want := bruteForce(cat, cfg, plays)
		assert.Equal(t, want.invalid, got.EventsInvalid, "round %d", round)
		if !assert.Equal(t, want.late, got.EventsLate, "round %d cfg %+v", round, cfg) {
			continue
		}
		require.Len(t, got.Windows, len(want.windows), "round %d", round)
		for i, w := range got.Windows {
			bw := want.windows[i]
			assert.Equal(t, bw.start, w.Start.UnixNano(), "round %d window %d", round, i)
			assert.Equal(t, bw.events, w.Events, "round %d window %d", round, i)
			assert.Equal(t, bw.top, w.TopTrack, "round %d window %d", round, i)
			assert.Equal(t, uint64(len(bw.users)), w.UniqueListeners, "round %d window %d", round, i)
		}
		require.Len(t, got.Leaderboard, len(want.tracks), "round %d", round)
		for _, row := range got.Leaderboard {
			bt := want.tracks[row.TrackID]
			assert.Equal(t, int64(len(bt.ms)), row.Streams)
			assert.Equal(t, float64(bt.complete)/float64(len(bt.ms)), row.CompletionRate)
			assert.Equal(t, topName(bt.platforms), row.TopPlatform)
			assert.Equal(t, uint64(len(bt.users)), row.UniqueListeners)
			slices.Sort(bt.ms)
			for _, q := range []struct {
				q   float64
				got int64
			}{{0.5, row.P50MsPlayed}, {0.95, row.P95MsPlayed}} {
				exact := float64(bt.ms[int(q.q*float64(len(bt.ms)-1))])
				assert.InDelta(t, exact, float64(q.got), 0.01*exact+1, "round %d %s p%v", round, row.TrackID, q.q)
				assert.True(t, q.got >= bt.ms[0] && q.got <= bt.ms[len(bt.ms)-1], "round %d %s p%v = %d outside the plays' [%d, %d]",
					round, row.TrackID, q.q, q.got, bt.ms[0], bt.ms[len(bt.ms)-1])
			}
		}
	}
}

type bruteWindow struct {
	start  int64
	events int64
	users  map[string]bool
	counts map[string]int64
	top    string
}

type bruteTrack struct {
	ms        []int64
	complete  int64
	users     map[string]bool
	platforms map[string]int64
}

type bruteResult struct {
	invalid int64
	late    int64
	windows []*bruteWindow
	tracks  map[string]*bruteTrack
}

func bruteForce(cat *Catalog, cfg Config, plays []Play) bruteResult {
	size, b, l := int64(cfg.Window), int64(cfg.MaxDelay), int64(cfg.AllowedLateness)
	res := bruteResult{tracks: map[string]*bruteTrack{}}
	byStart := map[int64]*bruteWindow{}
	var valid []Play
	for _, p := range plays {
		if _, ok := cat.Lookup(p.TrackID); ok {
			valid = append(valid, p)
		} else {
			res.invalid++
		}
	}
	for i, p := range valid {
		tr, _ := cat.Lookup(p.TrackID)
		bt := res.tracks[p.TrackID]
		if bt == nil {
			bt = &bruteTrack{users: map[string]bool{}, platforms: map[string]int64{}}
			res.tracks[p.TrackID] = bt
		}
		bt.ms = append(bt.ms, p.MsPlayed)
		if p.MsPlayed >= tr.DurationMs {
			bt.complete++
		}
		bt.users[p.UserID] = true
		bt.platforms[p.Platform]++

		t := p.EventTime.UnixNano()
		start := int64(math.Floor(float64(t)/float64(size))) * size
		for start > t { // float rounding guard
			start -= size
		}
		for start+size <= t {
			start += size
		}
		late := false
		if i > 0 {
			maxSeen := valid[0].EventTime.UnixNano()
			for _, q := range valid[:i] {
				maxSeen = max(maxSeen, q.EventTime.UnixNano())
			}
			late = maxSeen-b-1 >= start+size-1+l
		}
		if late {
			res.late++
			continue
		}
		w := byStart[start]
		if w == nil {
			w = &bruteWindow{start: start, users: map[string]bool{}, counts: map[string]int64{}}
			byStart[start] = w
			res.windows = append(res.windows, w)
		}
		w.events++
		w.users[p.UserID] = true
		w.counts[p.TrackID]++
	}
	slices.SortFunc(res.windows, func(a, b *bruteWindow) int { return cmp.Compare(a.start, b.start) })
	for _, w := range res.windows {
		w.top = topName(w.counts)
	}
	return res
}

// topName returns the key with the largest count, the smallest key on a tie.
func topName(counts map[string]int64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b)) })
	return keys[0]
}
