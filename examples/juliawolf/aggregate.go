package main

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/brook-streams/brook/sketch"
)

// TrackStats accumulates one track's plays: counts, completions, platform
// split, an HLL of listeners and a quantile sketch of listen time. It is the
// accumulator behind a leaderboard row, incremental and mergeable (Flink's
// AggregateFunction shape), so an engine can keep one per track per window
// or per parallel instance and merge them. The zero value is empty. It is
// not safe for concurrent use.
type TrackStats struct {
	Streams     int64
	Completions int64
	// Platforms holds the plays per platform, in first-seen order. There
	// are only a handful of platforms, so a slice beats a map here.
	Platforms []PlatformCount
	Listeners sketch.HLL
	// ExactMs holds every ms_played while there are at most exactPlays
	// plays (len(ExactMs) == Streams), so the quantiles of a small count
	// are exact rather than the sketch's; nil past that.
	ExactMs []int64
	// ListenMs is the quantile sketch of ms_played once ExactMs is nil: it
	// stays empty while the times are exact and gets them all when they
	// stop being (DDSketch's bins do not depend on the order of adds), so
	// the many small track windows never build a sketch.
	ListenMs sketch.Quantiles
	// repeatMs is the listen time of the first complete play (0: none
	// yet), and repeats the plays of exactly that time ListenMs has not
	// yet got. A completed play usually lasts exactly the track, so that
	// one value is about half of a track's sketch adds: they reach the
	// sketch in one AddN (syncSketch) when it is read, merged or encoded,
	// not one by one.
	repeatMs int64
	repeats  uint64
}

// exactPlays is the number of plays up to which TrackStats keeps every
// listen time: 2 KiB a track and window at most.
const exactPlays = 256

// exact reports whether ExactMs holds every play's listen time.
func (s *TrackStats) exact() bool { return s.Streams > 0 && int64(len(s.ExactMs)) == s.Streams }

// Add counts one play of a track of the given duration.
func (s *TrackStats) Add(p Play, durationMs int64) {
	s.add(p.UserID, p.Platform, p.MsPlayed, p.MsPlayed >= durationMs)
}

// addTrackPlay counts a play checked against the catalog.
func (s *TrackStats) addTrackPlay(tp trackPlay) {
	s.add(tp.UserID, tp.Platform, tp.MsPlayed, tp.Complete)
}

func (s *TrackStats) add(userID, platform string, ms int64, complete bool) {
	if complete && s.repeatMs == 0 {
		s.repeatMs = ms
	}
	if s.Streams < exactPlays && int64(len(s.ExactMs)) == s.Streams {
		s.ExactMs = append(s.ExactMs, ms)
	} else {
		s.toSketch()
		s.addSketch(ms)
	}
	s.Streams++
	if complete {
		s.Completions++
	}
	s.addPlatform(platform, 1)
	s.Listeners.AddString(userID)
}

// toSketch moves the exact listen times, if s holds them, into ListenMs.
func (s *TrackStats) toSketch() {
	if s.exact() {
		for _, ms := range s.ExactMs {
			s.addSketch(ms)
		}
	}
	s.ExactMs = nil
}

// addSketch adds a listen time to the sketch, or to the held-back
// repeats when it is repeatMs. ms_played is a non-negative int64, always
// inside the sketch's range (TestListenTimeRange), so Add and AddN cannot
// fail here.
func (s *TrackStats) addSketch(ms int64) {
	if ms == s.repeatMs && ms > 0 {
		s.repeats++
		return
	}
	_ = s.ListenMs.Add(float64(ms))
}

// syncSketch adds the held-back repeats of repeatMs to ListenMs.
func (s *TrackStats) syncSketch() {
	if s.repeats > 0 {
		_ = s.ListenMs.AddN(float64(s.repeatMs), s.repeats)
		s.repeats = 0
	}
}

func (s *TrackStats) addPlatform(name string, n int64) {
	for i := range s.Platforms {
		if s.Platforms[i].Platform == name {
			s.Platforms[i].Plays += n
			return
		}
	}
	s.Platforms = append(s.Platforms, PlatformCount{Platform: name, Plays: n})
}

// Merge folds o into s; o is not modified.
func (s *TrackStats) Merge(o *TrackStats) error {
	if s.repeatMs == 0 { // then s holds back nothing
		s.repeatMs = o.repeatMs
	}
	switch {
	case o.Streams == 0:
	case s.Streams+o.Streams <= exactPlays && int64(len(s.ExactMs)) == s.Streams && o.exact():
		s.ExactMs = append(s.ExactMs, o.ExactMs...)
	case o.exact():
		s.toSketch()
		for _, ms := range o.ExactMs {
			s.addSketch(ms)
		}
	default:
		s.toSketch()
		if err := s.ListenMs.Merge(&o.ListenMs); err != nil {
			return err
		}
		switch {
		case o.repeats == 0:
		case o.repeatMs == s.repeatMs:
			s.repeats += o.repeats
		default:
			_ = s.ListenMs.AddN(float64(o.repeatMs), o.repeats)
		}
	}
	s.Streams += o.Streams
	s.Completions += o.Completions
	for _, pc := range o.Platforms {
		s.addPlatform(pc.Platform, pc.Plays)
	}
	return s.Listeners.Merge(&o.Listeners)
}

// Row returns the leaderboard row for track t (Rank left 0).
func (s *TrackStats) Row(t Track) LeaderRow {
	platforms := slices.Clone(s.Platforms)
	slices.SortFunc(platforms, func(a, b PlatformCount) int {
		return cmp.Or(cmp.Compare(b.Plays, a.Plays), cmp.Compare(a.Platform, b.Platform))
	})
	row := LeaderRow{
		TrackID:         t.TrackID,
		Title:           t.Title,
		Streams:         s.Streams,
		UniqueListeners: s.Listeners.Estimate(),
		P50MsPlayed:     s.quantileMs(0.50),
		P95MsPlayed:     s.quantileMs(0.95),
		ExactListenMs:   s.exact(),
		Album:           t.Album,
		DurationMs:      t.DurationMs,
		Completions:     s.Completions,
		Platforms:       platforms,
	}
	if s.Streams > 0 {
		row.CompletionRate = float64(s.Completions) / float64(s.Streams)
	}
	if len(platforms) > 0 {
		row.TopPlatform = platforms[0].Platform
	}
	return row
}

// Leaderboard ranks rows by streams descending, then track_id, and numbers
// them from 1. Rows without streams are dropped.
func Leaderboard(rows []LeaderRow) []LeaderRow {
	out := make([]LeaderRow, 0, len(rows))
	for _, r := range rows {
		if r.Streams > 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b LeaderRow) int {
		return cmp.Or(cmp.Compare(b.Streams, a.Streams), cmp.Compare(a.TrackID, b.TrackID))
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// TopTrack returns the track_id with the largest count; a tie goes to the
// smallest track_id. counts is indexed like the catalog; "" if all are 0.
func TopTrack(cat *Catalog, counts []int64) string {
	best, top := int64(0), ""
	for i, n := range counts {
		if n == 0 {
			continue
		}
		id := cat.Track(i).TrackID
		if n > best || (n == best && id < top) {
			best, top = n, id
		}
	}
	return top
}

// Finish completes a snapshot whose counters, Windows and Leaderboard are
// set: it orders the windows, fills Throughput from the latest one, and
// makes empty lists encode as [] rather than null.
func (s *Snapshot) Finish(window time.Duration) {
	s.Window = window
	s.WindowSeconds = window.Seconds()
	if s.Windows == nil {
		s.Windows = []WindowRow{}
	}
	if s.Leaderboard == nil {
		s.Leaderboard = []LeaderRow{}
	}
	slices.SortFunc(s.Windows, func(a, b WindowRow) int { return a.Start.Compare(b.Start) })
	s.UniqueTracks = len(s.Leaderboard)
	s.Throughput = nil
	if n := len(s.Windows); n > 0 {
		last := s.Windows[n-1]
		s.Throughput = &Throughput{
			WindowStart:  last.Start,
			Events:       last.Events,
			EventsPerSec: float64(last.Events) / window.Seconds(),
		}
	}
}

// quantileMs returns the q-quantile of the listen times: exactly the play
// of rank ⌊q·(Streams-1)⌋ while ExactMs holds them all, else the sketch's
// estimate of it rounded to a whole millisecond; 0 without plays. The
// sketch's estimate of a value near the int64 limit may lie above it (by
// its relative accuracy): it is clamped to the limit rather than
// overflowing to a negative number.
func (s *TrackStats) quantileMs(q float64) int64 {
	if s.exact() {
		ms := slices.Sorted(slices.Values(s.ExactMs))
		return ms[int(q*float64(len(ms)-1))]
	}
	s.syncSketch()
	v, err := s.ListenMs.Quantile(q)
	switch {
	case err != nil || math.IsNaN(v) || v <= 0:
		return 0
	case v >= math.MaxInt64: // 2^63 as a float64
		return math.MaxInt64
	}
	return int64(math.Round(v))
}
