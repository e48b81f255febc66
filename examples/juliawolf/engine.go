package main

import (
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Config is what the pipeline needs besides its input and the catalog: the
// event-time settings from the flags and where its outputs go.
type Config struct {
	Window          time.Duration // tumbling window size, > 0; windows aligned to the Unix epoch
	MaxDelay        time.Duration // out-of-orderness bound B, >= 0
	AllowedLateness time.Duration // L, >= 0
	Parallel        int           // parallel instances of the keyed stage, >= 1
	// DeadLetterFile, when set, receives the rejected lines (and plays of
	// tracks the catalog lacks) as JSON Lines; DumpFile the generated plays.
	// Both are exactly-once under checkpoints (jsonl.Writer): a resumed run
	// cuts them back to the checkpoint and writes on.
	DeadLetterFile, DumpFile string
	// Checkpoints, when not nil, makes the pipeline checkpoint its state
	// into the store every CheckpointInterval and, first, resume from the
	// latest checkpoint there; the catalog and Config (all but Parallel)
	// must be those of the run that wrote it.
	Checkpoints        stream.CheckpointStore
	CheckpointInterval time.Duration
	// Metrics, when not nil, receives the pipeline's operator metrics
	// (-metrics serves them).
	Metrics stream.Metrics
	// Signals, when not nil, stops the run: the first signal stops it with
	// a savepoint when it checkpoints (else cancels it), a second cancels
	// it; the pipeline then returns a *stoppedError.
	Signals <-chan os.Signal
	// Progress, when not nil, counts the input bytes read or the plays
	// generated, for the progress bar.
	Progress *atomic.Int64
	// WindowTracks makes the snapshot keep a row per window and track
	// (Snapshot.WindowTracks, for -windows-jsonl).
	WindowTracks bool
	// Logger, when not nil, receives the runtime's lifecycle log
	// (stream.WithLogger); -log-level sets it.
	Logger *slog.Logger
}

// Input is where a run's plays come from: JSON Lines, or a source of
// plays.
type Input struct {
	// File is a JSON Lines file, opened when the run starts ("-": Stdin).
	File  string
	Stdin io.Reader
	// Plays, when File is "", is the source of plays: the generator's
	// (GeneratorSource), or plays in memory in tests. It must be a
	// stream.Snapshotter to be checkpointed.
	Plays stream.Source[Play]
}
