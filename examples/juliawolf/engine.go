package main

import (
	"context"
	"iter"
	"os"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Config is what an engine needs besides its input and the catalog: the
// event-time settings from the flags and where rejected plays go.
type Config struct {
	Window          time.Duration // tumbling window size, > 0; windows aligned to the Unix epoch
	MaxDelay        time.Duration // out-of-orderness bound B, >= 0
	AllowedLateness time.Duration // L, >= 0
	Parallel        int           // parallel instances of the keyed stage, >= 1
	// DeadLetters receives the plays enrichment rejects (track_id not in
	// the catalog), with their line number; nil discards them. Lines that
	// did not decode were dead-lettered by the source already.
	DeadLetters *DeadLetterWriter
	// Checkpoints, when not nil, makes the engine checkpoint its state
	// into the store every CheckpointInterval and, first, resume from the
	// latest checkpoint there: the source then must be a checkpointable
	// brook source (LineSource, GeneratorSource, SliceSource), and the
	// engine, catalog and Config must be those of the run that wrote it.
	// Only pipelineEngine checkpoints; referenceEngine refuses a store.
	Checkpoints        stream.CheckpointStore
	CheckpointInterval time.Duration
	// Metrics, when not nil, receives the pipeline's operator metrics
	// (-metrics serves them). Only pipelineEngine reports any.
	Metrics stream.Metrics
	// Signals, when not nil, stops the run: the first signal stops it with
	// a savepoint when it checkpoints (else cancels it), a second cancels
	// it; the engine then returns a *stoppedError. Only pipelineEngine
	// watches them.
	Signals <-chan os.Signal
}

// Engine computes a run's snapshot from a source of plays and the catalog:
// enrichment (rejecting unknown tracks, counted in events_invalid together
// with src.Rejected()), tumbling event-time windows with late detection, and
// the all-time leaderboard. It leaves Snapshot.Run, Waves, MaxDelay and
// AllowedLateness to the caller. The snapshot must not depend on
// cfg.Parallel. It returns ctx.Err() when ctx is cancelled and src.Err()
// when reading failed.
type Engine func(ctx context.Context, cfg Config, src PlaySource, cat *Catalog) (*Snapshot, error)

// mainEngine is the engine the program runs: the pipeline built from brook's
// stream, enrich, window and sketch packages. referenceEngine is its
// benchmark baseline and test oracle.
var mainEngine Engine = pipelineEngine

// PlaySource is an engine's input: plays in arrival order.
type PlaySource interface {
	// All yields the plays in arrival order. It is single-use.
	All() iter.Seq[Play]
	// Err returns the error that ended All early (a read error), or nil
	// after a clean end of input. It is valid once All has returned.
	Err() error
	// Rejected returns how many input lines All skipped because they did
	// not decode; they have already been dead-lettered. It is valid once
	// All has returned.
	Rejected() int64
}

// SliceSource is a PlaySource, and a checkpointable brook source, over
// plays held in memory, for tests and benchmarks. Rejected reports Invalid.
type SliceSource struct {
	Plays   []Play
	Invalid int64
	pos     int // the next play Run emits
}

var (
	_ PlaySource          = (*SliceSource)(nil)
	_ stream.Source[Play] = (*SliceSource)(nil)
	_ stream.Snapshotter  = (*SliceSource)(nil)
)

// All implements PlaySource; unlike the other sources it can be iterated
// again, and always yields every play.
func (s *SliceSource) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		for _, p := range s.Plays {
			if !yield(p) {
				return
			}
		}
	}
}

// Run implements stream.Source: it emits the plays from its position (the
// start, or a restored checkpoint's) on.
func (s *SliceSource) Run(ctx context.Context, out stream.SourceOutput[Play]) error {
	done := ctx.Done()
	for s.pos < len(s.Plays) {
		p := s.Plays[s.pos]
		s.pos++ // consumed before Emit, which may checkpoint the source
		if err := out.Emit(stream.Record[Play]{Value: p}); err != nil {
			return err
		}
		if s.pos%1024 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
	}
	return nil
}

// Err implements PlaySource.
func (s *SliceSource) Err() error { return nil }

// Rejected implements PlaySource.
func (s *SliceSource) Rejected() int64 { return s.Invalid }
