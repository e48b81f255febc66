package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
	"github.com/brook-streams/brook/window"
)

// boardEvent is what the leaderboard sink receives: a window's result for
// one track, a late play or the dead-letter count.
type boardEvent struct {
	result  *window.Result[int, *TrackStats]
	late    *trackPlay
	invalid int64 // dead letters
}

// boardSink builds the snapshot from the windows' results and the late
// plays. Each result is a window's only one for its track (FireOnClose), so
// it goes into the all-time figures at once and into its window's row,
// which the watermark completes: every result of a window travels at its
// close, ahead of the watermark that passes it.
type boardSink struct {
	cat      *Catalog
	lateness stream.Time
	invalid  int64
	perTrack bool // keep a row per window and track (-windows-jsonl)
	boardState
}

// boardState is what the leaderboard checkpoints (codec.For: encoding/gob,
// with TrackStats and the HLLs in their MarshalBinary form).
type boardState struct {
	Late    int64
	Tracks  []TrackStats // all-time, by catalog index
	Users   sketch.HLL   // all-time listeners
	Windows []WindowRow  // the completed windows
	Open    []openWindow // by start
	// WindowTracks are the rows per window and track, when perTrack, in
	// the order the results came.
	WindowTracks []WindowTrackRow
}

// openWindow is the row of a window the watermark has not yet passed.
type openWindow struct {
	Start, End stream.Time
	Events     int64
	Listeners  sketch.HLL
	Plays      []int64 // by catalog index, for the top track
}

func newBoardSink(cat *Catalog, lateness time.Duration) *boardSink {
	return &boardSink{cat: cat, lateness: stream.Time(lateness), boardState: boardState{Tracks: make([]TrackStats, cat.Len())}}
}

func (b *boardSink) Write(_ context.Context, r stream.Record[boardEvent]) error {
	b.invalid += r.Value.invalid
	if tp := r.Value.late; tp != nil {
		b.Late++
		b.Tracks[tp.Track].addTrackPlay(*tp)
		b.Users.AddString(tp.UserID)
		return nil
	}
	res := r.Value.result
	if res == nil {
		return nil
	}
	i, found := slices.BinarySearchFunc(b.Open, res.Start, func(w openWindow, s stream.Time) int { return cmp.Compare(w.Start, s) })
	if !found {
		b.Open = slices.Insert(b.Open, i, openWindow{Start: res.Start, End: res.End, Plays: make([]int64, b.cat.Len())})
	}
	w := &b.Open[i]
	w.Events += res.Value.Streams
	w.Plays[res.Key] += res.Value.Streams
	mustMerge(&b.Tracks[res.Key], res.Value)
	if b.perTrack {
		row := res.Value.Row(b.cat.Track(res.Key))
		b.WindowTracks = append(b.WindowTracks, WindowTrackRow{Start: res.Start.Std(), End: res.End.Std(),
			TrackID: row.TrackID, Title: row.Title, Streams: row.Streams, CompletionRate: row.CompletionRate,
			TopPlatform: row.TopPlatform, UniqueListeners: row.UniqueListeners, P50MsPlayed: row.P50MsPlayed, P95MsPlayed: row.P95MsPlayed})
	}
	return mergeHLL(&w.Listeners, &res.Value.Listeners)
}

// WriteWatermark completes the rows of the windows the watermark has
// closed (W >= End-1+L): no further result can change them.
func (b *boardSink) WriteWatermark(_ context.Context, wm stream.Time) error {
	n := 0
	for n < len(b.Open) && wm >= closeTime(b.Open[n].End, b.lateness) {
		w := &b.Open[n]
		b.Windows = append(b.Windows, WindowRow{Start: w.Start.Std(), End: w.End.Std(), Events: w.Events,
			UniqueListeners: w.Listeners.Estimate(), TopTrack: TopTrack(b.cat, w.Plays)})
		if err := mergeHLL(&b.Users, &w.Listeners); err != nil {
			return err
		}
		n++
	}
	b.Open = slices.Delete(b.Open, 0, n)
	return nil
}

func closeTime(end, lateness stream.Time) stream.Time {
	c := end - 1 + lateness
	if c < end-1 { // overflow
		return stream.MaxTime
	}
	return c
}

// mergeHLL merges HLLs of the default precision, which cannot fail.
func mergeHLL(a, b *sketch.HLL) error {
	if err := a.Merge(b); err != nil {
		return fmt.Errorf("juliawolf: merging listeners: %w", err)
	}
	return nil
}

// snapshot returns the figures after the end of input (the MaxTime
// watermark closed every window).
func (b *boardSink) snapshot() *Snapshot {
	snap := &Snapshot{EventsLate: b.Late, EventsInvalid: b.invalid, Windows: b.Windows, UniqueListeners: b.Users.Estimate()}
	rows := make([]LeaderRow, 0, len(b.Tracks))
	for i := range b.Tracks {
		snap.EventsProcessed += b.Tracks[i].Streams
		rows = append(rows, b.Tracks[i].Row(b.cat.Track(i)))
	}
	snap.Leaderboard = Leaderboard(rows)
	snap.WindowTracks = slices.Clone(b.WindowTracks)
	slices.SortFunc(snap.WindowTracks, func(a, b WindowTrackRow) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(b.Streams, a.Streams), cmp.Compare(a.TrackID, b.TrackID))
	})
	return snap
}

const boardStateVersion = 3

// Snapshot implements stream.Snapshotter.
func (b *boardSink) Snapshot() ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(boardStateVersion)
	codec.For[boardState]().Append(e, b.boardState)
	return e.Data(), nil
}

// Restore implements stream.Snapshotter. It checks what it decodes against
// the catalog and the pipeline's sketches, so damaged state is an error
// wrapping stream.ErrCorruptCheckpoint (FuzzRestore).
func (b *boardSink) Restore(state []byte) error {
	d := codec.NewDecoder(state, "leaderboard")
	d.Version(boardStateVersion)
	var st boardState
	if d.Err() == nil {
		st = codec.For[boardState]().Decode(d)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	if err := st.check(b.cat.Len()); err != nil {
		return fmt.Errorf("%w: leaderboard: %v", stream.ErrCorruptCheckpoint, err)
	}
	b.boardState = st
	return nil
}

// check validates a decoded state for a catalog of n tracks.
func (s *boardState) check(n int) error {
	if len(s.Tracks) != n {
		return fmt.Errorf("%d tracks, the catalog has %d", len(s.Tracks), n)
	}
	if s.Late < 0 {
		return fmt.Errorf("negative late count %d", s.Late)
	}
	hlls := []*sketch.HLL{&s.Users}
	for i := range s.Open {
		w := &s.Open[i]
		switch {
		case w.Start >= w.End:
			return fmt.Errorf("window [%d,%d)", w.Start, w.End)
		case i > 0 && w.Start <= s.Open[i-1].Start:
			return fmt.Errorf("windows out of order at %d", w.Start)
		case len(w.Plays) != n:
			return fmt.Errorf("window at %d: %d tracks, the catalog has %d", w.Start, len(w.Plays), n)
		case w.Events < 0 || slices.Min(w.Plays) < 0:
			return fmt.Errorf("window at %d: a negative count", w.Start)
		}
		hlls = append(hlls, &w.Listeners)
	}
	for _, h := range hlls {
		if p := h.Precision(); p != sketch.DefaultPrecision {
			return fmt.Errorf("listeners: HLL precision %d, want %d", p, sketch.DefaultPrecision)
		}
	}
	return nil
}
