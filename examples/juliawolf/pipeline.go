package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// pipelineEngine computes the snapshot with a brook pipeline:
//
//	plays (event time)
//	  → enrich.Lookup(catalog)            unknown track_id → dead letters
//	  → watermarks (bounded out-of-orderness B, from valid plays only)
//	  → KeyBy(track) ×Parallel
//	  → window.Aggregate(Tumbling(W), TrackStats, AllowedLateness(L))
//	  → leaderboard sink (window results ∪ late plays)
//
// Each window result carries a track's TrackStats for one window (count,
// completions, platforms, an HLL of listeners, a quantile sketch of listen
// time). The leaderboard sink keeps a window's latest result per track until
// the watermark closes the window, then reduces it to a WindowRow and merges
// it into the all-time figures; late plays go straight into the all-time
// figures. Sketch merges are order-independent, so the snapshot is the same
// for every cfg.Parallel.
//
// With cfg.Checkpoints every stateful piece is checkpointed: the source's
// position (and the -dump length), the lookup, the watermark generator,
// the windows, the leaderboard and the dead-letter count and output length.
// A run restored from a checkpoint ends with the snapshot of an
// uninterrupted run and dead-letter and dump files without duplicates.
func pipelineEngine(ctx context.Context, cfg Config, src PlaySource, cat *Catalog) (*Snapshot, error) {
	opts := []stream.Option{stream.WithParallelism(cfg.Parallel)}
	if cfg.Metrics != nil {
		opts = append(opts, stream.WithMetrics(cfg.Metrics))
	}
	source, ok := src.(stream.Source[Play])
	if !ok {
		source = stream.Seq(src.All())
	}
	if cfg.Checkpoints != nil {
		if _, ok := source.(stream.Snapshotter); !ok {
			return nil, fmt.Errorf("checkpoints need a checkpointable source, not %T", src)
		}
		opts = append(opts, stream.WithCheckpoints(cfg.Checkpoints, cfg.CheckpointInterval))
	}
	p := stream.New(opts...)
	plays := stream.From(p, source,
		stream.Name("plays"),
		stream.WithTimestamps(func(pl Play) time.Time { return pl.EventTime }))

	rows := make(map[string]int, cat.Len())
	for i, t := range cat.All() {
		rows[t.TrackID] = i
	}
	enriched := enrich.Lookup(plays, enrich.NewMapTable(rows),
		func(pl Play) string { return pl.TrackID },
		func(pl Play, track int) trackPlay {
			return trackPlay{Play: pl, Track: track, DurationMs: cat.Track(track).DurationMs}
		},
		stream.Name("catalog"))
	dead := &deadLetterSink{out: cfg.DeadLetters, cat: cat}
	stream.To(enriched.DeadLetters(), dead, stream.Name("dead-letters"))

	// Event time advances with valid plays only: a rejected line (unknown
	// track) must not close windows, so watermarks are generated after the
	// lookup rather than at the source.
	valid := stream.AssignWatermarks(enriched.Stream, stream.BoundedOutOfOrderness[trackPlay](cfg.MaxDelay))
	perTrack := stream.KeyBy(valid, func(tp trackPlay) int { return tp.Track },
		stream.Parallelism(cfg.Parallel))
	windows := window.Aggregate(perTrack, window.Tumbling(cfg.Window), trackAgg{},
		window.AllowedLateness(cfg.AllowedLateness), stream.Name("track-windows"))

	results := stream.Map(windows.Results(), func(r window.Result[int, *TrackStats]) boardEvent {
		return boardEvent{result: &r}
	})
	late := stream.Map(windows.Late(), func(l window.LateRecord[trackPlay]) boardEvent {
		return boardEvent{late: &l.Record.Value}
	})
	board := newBoardSink(cat, cfg.AllowedLateness)
	stream.To(stream.Union([]stream.Stream[boardEvent]{results, late}), board, stream.Name("leaderboard"))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := func(*sync.WaitGroup) { cancel() }
	if cfg.Checkpoints != nil {
		stop = func(wg *sync.WaitGroup) { wg.Go(func() { _ = p.Stop(context.WithoutCancel(ctx)) }) }
	}
	end := watchSignals(cfg.Signals, stop, cancel)
	err := p.Run(ctx)
	if sig := end(); sig != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil, &stoppedError{sig: sig, savepoint: err == nil && cfg.Checkpoints != nil}
	}
	if err != nil {
		if serr := src.Err(); serr != nil {
			return nil, serr // the source's own failure, without the operator prefix
		}
		return nil, err
	}
	if err := src.Err(); err != nil {
		return nil, err
	}
	snap := board.snapshot()
	snap.EventsInvalid = src.Rejected() + dead.n
	snap.Finish(cfg.Window)
	return snap, nil
}

// trackPlay is a play enriched with its catalog row.
type trackPlay struct {
	Play       Play
	Track      int // index in the catalog
	DurationMs int64
}

// trackAgg folds a window's plays of one track into a TrackStats: the
// window.Aggregator for the leaderboard.
type trackAgg struct{}

var _ window.Aggregator[trackPlay, *TrackStats, *TrackStats] = trackAgg{}

func (trackAgg) New() *TrackStats { return &TrackStats{} }

func (trackAgg) Add(acc *TrackStats, tp trackPlay) *TrackStats {
	acc.Add(tp.Play, tp.DurationMs)
	return acc
}

func (trackAgg) Merge(a, b *TrackStats) *TrackStats {
	mustMerge(a, b)
	return a
}

// Result returns a copy: the window keeps its accumulator for late firings
// while the copy travels to the leaderboard goroutine.
func (trackAgg) Result(acc *TrackStats) *TrackStats {
	c := &TrackStats{}
	mustMerge(c, acc)
	return c
}

// mustMerge merges sketches that all use the default precision and
// accuracy, which cannot fail; an error is a programming mistake.
func mustMerge(a, b *TrackStats) {
	if err := a.Merge(b); err != nil {
		panic(fmt.Sprintf("juliawolf: merging track stats: %v", err))
	}
}

// boardEvent is what the leaderboard sink receives: a window result or a
// late play.
type boardEvent struct {
	result *window.Result[int, *TrackStats]
	late   *trackPlay
}

// boardSink builds the snapshot from window results and late plays. It is
// checkpointed whole (see Snapshot).
type boardSink struct {
	cat      *Catalog
	lateness stream.Time
	open     map[stream.Time]*boardWindow // by window start
	tracks   []TrackStats                 // all-time, by catalog index
	users    sketch.HLL                   // all-time listeners
	windows  []WindowRow
	late     int64
}

type boardWindow struct {
	start, end stream.Time
	perTrack   map[int]*TrackStats // latest firing per track
}

func newBoardSink(cat *Catalog, lateness time.Duration) *boardSink {
	return &boardSink{cat: cat, lateness: stream.Time(lateness), open: map[stream.Time]*boardWindow{},
		tracks: make([]TrackStats, cat.Len())}
}

func (b *boardSink) Write(_ context.Context, r stream.Record[boardEvent]) error {
	if tp := r.Value.late; tp != nil {
		b.late++
		b.tracks[tp.Track].Add(tp.Play, tp.DurationMs)
		b.users.AddString(tp.Play.UserID)
		return nil
	}
	res := r.Value.result
	w := b.open[res.Start]
	if w == nil {
		w = &boardWindow{start: res.Start, end: res.End, perTrack: map[int]*TrackStats{}}
		b.open[res.Start] = w
	}
	w.perTrack[res.Key] = res.Value // firings accumulate: the latest is the window's result
	return nil
}

// WriteWatermark closes the windows the watermark has closed (W >= end-1+L):
// no further firing can change them.
func (b *boardSink) WriteWatermark(_ context.Context, wm stream.Time) error {
	var done []stream.Time
	for start, w := range b.open {
		if wm >= closeTime(w.end, b.lateness) {
			done = append(done, start)
		}
	}
	slices.Sort(done)
	for _, start := range done {
		b.closeWindow(b.open[start])
		delete(b.open, start)
	}
	return nil
}

func closeTime(end, lateness stream.Time) stream.Time {
	c := end - 1 + lateness
	if c < end-1 { // overflow
		return stream.MaxTime
	}
	return c
}

func (b *boardSink) closeWindow(w *boardWindow) {
	var (
		row       = WindowRow{Start: w.start.Std(), End: w.end.Std()}
		listeners sketch.HLL
		counts    = make([]int64, b.cat.Len())
	)
	for track, st := range w.perTrack {
		row.Events += st.Streams
		counts[track] = st.Streams
		if err := listeners.Merge(&st.Listeners); err != nil {
			panic(fmt.Sprintf("juliawolf: merging listeners: %v", err))
		}
		mustMerge(&b.tracks[track], st)
	}
	if err := b.users.Merge(&listeners); err != nil {
		panic(fmt.Sprintf("juliawolf: merging listeners: %v", err))
	}
	row.UniqueListeners = listeners.Estimate()
	row.TopTrack = TopTrack(b.cat, counts)
	b.windows = append(b.windows, row)
}

// snapshot returns the figures after the end of input (the MaxTime
// watermark closed every window).
func (b *boardSink) snapshot() *Snapshot {
	snap := &Snapshot{EventsLate: b.late, Windows: b.windows, UniqueListeners: b.users.Estimate()}
	rows := make([]LeaderRow, 0, len(b.tracks))
	for i := range b.tracks {
		snap.EventsProcessed += b.tracks[i].Streams
		rows = append(rows, b.tracks[i].Row(b.cat.Track(i)))
	}
	snap.Leaderboard = Leaderboard(rows)
	return snap
}

// deadLetterSink writes the plays the catalog lookup rejected. Its
// checkpoint is the count and the output's length (see Snapshot).
type deadLetterSink struct {
	out *DeadLetterWriter
	cat *Catalog
	n   int64
}

func (d *deadLetterSink) Write(_ context.Context, r stream.Record[stream.DeadLetter[Play]]) error {
	d.n++
	pl := r.Value.Record.Value
	return d.out.Write(pl.Line, CheckTrack(d.cat, pl).Error(), AppendJSON(nil, pl))
}
