package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/brook-streams/brook/internal/signals"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
	"github.com/brook-streams/brook/window"
)

// pipelineEngine computes the snapshot with a brook pipeline:
//
//	plays: JSON Lines (jsonl.Source: decoded, checked against the catalog)
//	       or the generator (its plays copied to -dump by a jsonl.Writer,
//	       then handed to a task of their own: Rebalance, one instance)
//	  → rejected lines and unknown tracks → -dead-letter (jsonl.Writer), counted
//	  → watermarks (bounded out-of-orderness B, from valid plays only)
//	  → KeyBy(track) ×Parallel
//	  → window.Aggregate(Tumbling(W), TrackStats, AllowedLateness(L))
//	  → leaderboard sink (window results ∪ late plays ∪ the dead-letter count)
//
// Each window fires once per track, when it closes (window.FireOnClose),
// with the track's TrackStats for the window (count, completions,
// platforms, an HLL of listeners, a quantile sketch of listen time). The
// leaderboard sink (board.go) merges it into the all-time figures and the
// window's row, which it completes when the watermark passes the close;
// late plays go straight into the all-time figures. Sketch merges are
// order-independent, so the snapshot is the same for every cfg.Parallel.
//
// With cfg.Checkpoints every stateful piece is checkpointed: the source's
// position, the -dump and -dead-letter lengths, the watermark generator,
// the windows (by key group, so a checkpoint restores at any parallelism),
// the dead-letter count and the leaderboard. A run restored from a
// checkpoint ends with the snapshot of an uninterrupted run and dead-letter
// and dump files without duplicates.
func pipelineEngine(ctx context.Context, cfg Config, in Input, cat *Catalog) (*Snapshot, error) {
	opts := []stream.Option{stream.WithParallelism(cfg.Parallel), stream.WithLogger(cfg.Logger)}
	if cfg.Metrics != nil {
		opts = append(opts, stream.WithMetrics(cfg.Metrics))
	}
	if cfg.Checkpoints != nil {
		opts = append(opts, stream.WithCheckpoints(cfg.Checkpoints, cfg.CheckpointInterval))
	}
	p := stream.New(opts...)
	plays, dead := readPlays(p, cfg, in, cat)
	writeDeadLetters(dead, cfg.DeadLetterFile)

	// Event time advances with valid plays only: a rejected line must not
	// close windows, so watermarks are generated after the checks.
	valid := stream.AssignWatermarks(plays, stream.BoundedOutOfOrderness[trackPlay](cfg.MaxDelay))
	board := newBoardSink(cat, cfg.AllowedLateness)
	board.perTrack = cfg.WindowTracks
	stream.To(boardEvents(valid, dead, cfg), board, stream.Name("leaderboard"))

	if err := runPipeline(ctx, p, cfg); err != nil {
		var oe *stream.OperatorError
		if errors.As(err, &oe) && oe.Op == "plays" && in.File != "" {
			return nil, fmt.Errorf("reading input: %w", oe.Err)
		}
		return nil, err
	}
	snap := board.snapshot()
	snap.Finish(cfg.Window)
	return snap, nil
}

// boardEvents is the job's dataflow from the valid plays, with their
// watermarks, and the dead letters to what the leaderboard needs: one
// result per window and track (KeyBy(track) ×cfg.Parallel → window.Aggregate
// with Tumbling(cfg.Window), TrackStats, AllowedLateness and FireOnClose),
// the late plays and the dead-letter count (at the end of the input). The single-process
// pipeline and each task of the distributed workers (worker.go) run it.
func boardEvents(valid stream.Stream[trackPlay], dead stream.Stream[deadLetter], cfg Config) stream.Stream[boardEvent] {
	invalid := stream.Map(countAll(dead, "dead-letter-count"), func(n int64) boardEvent { return boardEvent{invalid: n} })
	perTrack := stream.KeyBy(valid, func(tp trackPlay) int { return int(tp.Track) },
		stream.Parallelism(cfg.Parallel))
	windows := window.Aggregate(perTrack, window.Tumbling(cfg.Window), trackAgg{},
		window.AllowedLateness(cfg.AllowedLateness), window.FireOnClose(), stream.Name("track-windows"))
	results := stream.Map(windows.Results(), func(r window.Result[int, *TrackStats]) boardEvent {
		return boardEvent{result: &r}
	})
	late := stream.Map(windows.Late(), func(l window.LateRecord[trackPlay]) boardEvent {
		return boardEvent{late: &l.Record.Value}
	})
	return stream.Union([]stream.Stream[boardEvent]{results, late, invalid})
}

// runPipeline runs p, stopping it on cfg.Signals (see Config.Signals).
func runPipeline(ctx context.Context, p *stream.Pipeline, cfg Config) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := func(*sync.WaitGroup) { cancel() }
	if cfg.Checkpoints != nil {
		stop = func(wg *sync.WaitGroup) { wg.Go(func() { _ = p.Stop(context.WithoutCancel(ctx)) }) }
	}
	end := signals.Watch(cfg.Signals, stop, cancel)
	err := p.Run(ctx)
	if sig := end(); sig != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return &stoppedError{sig: sig, savepoint: err == nil && cfg.Checkpoints != nil}
	}
	return err
}

// readPlays adds the input to p: the valid plays, checked against the
// catalog (see withTrack), and the dead letters of everything else.
func readPlays(p *stream.Pipeline, cfg Config, in Input, cat *Catalog) (stream.Stream[trackPlay], stream.Stream[deadLetter]) {
	if in.File == "" {
		plays := stream.From(p, in.Plays, stream.Name("plays"),
			stream.WithTimestamps(func(pl Play) time.Time { return pl.EventTime }))
		if cfg.DumpFile != "" {
			stream.To(plays, jsonl.CreateFile[Play](cfg.DumpFile, jsonl.Encoder(encodePlay)), stream.Name("dump"))
		}
		if cfg.Progress != nil {
			plays = stream.Map(plays, func(pl Play) Play { cfg.Progress.Add(1); return pl })
		}
		// Generating a play costs as much as the steps after it: a
		// one-instance exchange (order kept) runs them in a task of their
		// own, on another core.
		plays = stream.Rebalance(plays, stream.Parallelism(1))
		checked := stream.Process(plays, func(_ *stream.Context, r stream.Record[Play], out stream.Emitter[trackPlay]) error {
			tp, err := withTrack(cat, &r.Value)
			if err != nil {
				return stream.Reject(err)
			}
			return out.Emit(stream.Record[trackPlay]{Time: r.Time, Value: tp})
		}, stream.Name("catalog"))
		dead := stream.Map(checked.DeadLetters(), func(d stream.DeadLetter[Play]) deadLetter {
			return deadLetter{line: d.Record.Value.Line, err: d.Err}
		})
		return checked.Stream, dead
	}
	decode := func(line []byte) (trackPlay, error) {
		pl, err := DecodePlay(line)
		if err != nil {
			return trackPlay{}, err
		}
		return withTrack(cat, &pl)
	}
	opts := []jsonl.Option{jsonl.MaxLineBytes(MaxLineBytes), jsonl.DecodeBlankLines(),
		jsonl.EventTime(func(tp trackPlay) time.Time { return tp.EventTime.Std() })}
	src := jsonl.File(in.File, decode, opts...)
	if in.File == "-" {
		src = jsonl.Reader(in.Stdin, decode, opts...)
	}
	lines := stream.From(p, src, stream.Name("plays"))
	if cfg.Progress != nil {
		lines = stream.Map(lines, func(l jsonl.Line[trackPlay]) jsonl.Line[trackPlay] {
			cfg.Progress.Store(l.Offset + l.Size)
			return l
		})
	}
	decoded := jsonl.Decode(lines)
	dead := stream.Map(decoded.DeadLetters(), func(d stream.DeadLetter[jsonl.Line[trackPlay]]) deadLetter {
		l := d.Record.Value
		return deadLetter{line: l.Num, err: errors.Unwrap(l.Err), raw: l.Raw, size: l.Size}
	})
	return decoded.Stream, dead
}

// withTrack checks a play's track against the catalog and keeps what the
// windows need of it.
func withTrack(cat *Catalog, pl *Play) (trackPlay, error) {
	i, ok := cat.Index(pl.TrackID)
	if !ok {
		return trackPlay{}, &unknownTrackError{play: *pl}
	}
	return trackPlay{UserID: pl.UserID, Platform: pl.Platform, MsPlayed: pl.MsPlayed, EventTime: stream.TimeOf(pl.EventTime),
		Track: int32(i), Complete: pl.MsPlayed >= cat.Track(i).DurationMs}, nil
}

// countAll counts the records of s; the count comes out at the end of the
// input (a global window, checkpointed like any other).
func countAll[T any](s stream.Stream[T], name string) stream.Stream[int64] {
	all := stream.KeyBy(s, func(T) int { return 0 }, stream.Parallelism(1))
	counts := window.Aggregate(all, window.Global(), window.Count[T](), stream.Name(name))
	return stream.Map(counts.Results(), func(r window.Result[int, int64]) int64 { return r.Value })
}

// trackPlay is what the windows and the leaderboard need of a play the
// catalog knows: 56 bytes, so that a record of it fills one cache line as
// it crosses to another task.
type trackPlay struct {
	UserID    string
	Platform  string
	MsPlayed  int64
	EventTime stream.Time
	Track     int32 // index in the catalog
	Complete  bool  // MsPlayed reached the track's duration
}

// trackAgg folds a window's plays of one track into a TrackStats: the
// window.Aggregator for the leaderboard.
type trackAgg struct{}

var (
	_ window.Aggregator[trackPlay, *TrackStats, *TrackStats] = trackAgg{}
	_ window.FinalResulter[*TrackStats, *TrackStats]         = trackAgg{}
)

func (trackAgg) New() *TrackStats { return &TrackStats{} }

func (trackAgg) Add(acc *TrackStats, tp trackPlay) *TrackStats {
	acc.addTrackPlay(tp)
	return acc
}

func (trackAgg) Merge(a, b *TrackStats) *TrackStats {
	mustMerge(a, b)
	return a
}

// Result returns a copy, as window.Aggregator asks: the result travels to
// the leaderboard's goroutine. (Under FireOnClose, as here, the windows
// call FinalResult instead.)
func (trackAgg) Result(acc *TrackStats) *TrackStats {
	c := &TrackStats{}
	mustMerge(c, acc)
	return c
}

// FinalResult hands the accumulator over (window.FinalResulter): each
// track window fires once, at its close, and drops it.
func (trackAgg) FinalResult(acc *TrackStats) *TrackStats { return acc }

// mustMerge merges sketches that all use the default precision and
// accuracy, which cannot fail; an error is a programming mistake.
func mustMerge(a, b *TrackStats) {
	if err := a.Merge(b); err != nil {
		panic(fmt.Sprintf("juliawolf: merging track stats: %v", err))
	}
}
