package main

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/brook-streams/brook/sketch"
)

// referenceEngine computes the snapshot in one hand-written loop, with no
// goroutines and no brook operators. It applies the event-time rules of the
// package documentation literally and is the baseline the library pipeline
// is benchmarked against and the oracle it is tested against.
//
// Memory is bounded: a window's state (a count, an HLL and per-track counts)
// lives only while the window is open and is reduced to a WindowRow when it
// closes; the all-time state is one TrackStats per catalog track.
func referenceEngine(ctx context.Context, cfg Config, src PlaySource, cat *Catalog) (*Snapshot, error) {
	return referenceWithDeadLetters(ctx, cfg, src, cat, nil)
}

// referenceWithDeadLetters is referenceEngine writing the plays of unknown
// tracks to dead (the source writes the lines that do not decode).
func referenceWithDeadLetters(ctx context.Context, cfg Config, src PlaySource, cat *Catalog, dead *DeadLetterWriter) (*Snapshot, error) {
	if cfg.Checkpoints != nil {
		return nil, errors.New("the reference engine does not checkpoint")
	}
	size := int64(cfg.Window)
	delay := int64(cfg.MaxDelay)
	lateness := int64(cfg.AllowedLateness)

	tracks := make([]TrackStats, cat.Len())
	var (
		snap    Snapshot
		users   sketch.HLL // all-time listeners
		unknown int64
		open    []*refWindow // open windows, by start
		maxSeen int64
		wm      int64 = math.MinInt64 // no watermark before the first play
	)

	closeUpTo := func(w int64) {
		n := 0
		for _, win := range open {
			if w < satAdd(win.end-1, lateness) {
				break
			}
			snap.Windows = append(snap.Windows, WindowRow{
				Start:           time.Unix(0, win.start).UTC(),
				End:             time.Unix(0, win.end).UTC(),
				Events:          win.events,
				UniqueListeners: win.listeners.Estimate(),
				TopTrack:        TopTrack(cat, win.perTrack),
			})
			n++
		}
		open = slices.Delete(open, 0, n)
	}

	var seen int64
	for p := range src.All() {
		if seen++; seen&4095 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ti, ok := cat.Index(p.TrackID)
		if !ok { // enrichment: the lookup join's dead-letter policy
			unknown++
			if err := dead.Write(p.Line, CheckTrack(cat, p).Error(), AppendJSON(nil, p)); err != nil {
				return nil, err
			}
			continue
		}
		snap.EventsProcessed++
		tracks[ti].Add(p, cat.Track(ti).DurationMs)
		users.AddString(p.UserID)

		t := p.EventTime.UnixNano()
		start, end := windowOf(t, size)
		if wm >= satAdd(end-1, lateness) {
			snap.EventsLate++
		} else {
			win := findWindow(&open, start, end, cat.Len())
			win.events++
			win.listeners.AddString(p.UserID)
			win.perTrack[ti]++
		}
		if snap.EventsProcessed == 1 || t > maxSeen {
			maxSeen = t
			wm = satAdd(satAdd(maxSeen, -delay), -1)
			closeUpTo(wm)
		}
	}
	if err := src.Err(); err != nil {
		return nil, err
	}
	closeUpTo(math.MaxInt64) // end of input: the watermark goes to +infinity

	snap.EventsInvalid = src.Rejected() + unknown
	snap.UniqueListeners = users.Estimate()
	rows := make([]LeaderRow, 0, len(tracks))
	for i := range tracks {
		rows = append(rows, tracks[i].Row(cat.Track(i)))
	}
	snap.Leaderboard = Leaderboard(rows)
	snap.Finish(cfg.Window)
	return &snap, nil
}

// refWindow is the reference engine's state of one open window.
type refWindow struct {
	start, end int64
	events     int64
	listeners  sketch.HLL
	perTrack   []int64 // plays per catalog track
}

// findWindow returns the open window [start,end), opening it (in start
// order) if needed. New windows are almost always the latest, so the search
// runs from the back.
func findWindow(open *[]*refWindow, start, end int64, tracks int) *refWindow {
	o := *open
	i := len(o)
	for i > 0 && o[i-1].start >= start {
		if o[i-1].start == start {
			return o[i-1]
		}
		i--
	}
	w := &refWindow{start: start, end: end, perTrack: make([]int64, tracks)}
	*open = slices.Insert(o, i, w)
	return w
}

// windowOf returns the size-wide window [start, end) holding t, windows
// aligned to 0 (the Unix epoch): a true floor, also for negative t. A
// window reaching past either end of the int64 range is clipped to it
// (the first window starts at the earliest representable time but still
// ends on its aligned boundary).
func windowOf(t, size int64) (start, end int64) {
	r := t % size
	if r < 0 {
		r += size
	}
	return satAdd(t, -r), satAdd(t, size-r)
}

// satAdd returns a+b, saturated at the int64 range, so window arithmetic
// near the ends of representable time clamps instead of wrapping.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}
