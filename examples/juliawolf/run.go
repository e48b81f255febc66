package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/brook-streams/brook/stream"
)

// runErr is the default command: parse the flags, check everything that can
// fail up front, run the pipeline, write the outputs.
func runErr(ctx context.Context, sigs <-chan os.Signal, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	j, err := prepare(ctx, o, stdin)
	if err != nil {
		return err
	}
	defer j.close()
	out := stdout
	if o.quiet {
		out = io.Discard
	}
	snap, err := j.run(ctx, sigs, out, stderr)
	if err != nil {
		return err
	}
	return j.finish(snap, out)
}

// job is a run whose up-front checks have passed.
type job struct {
	o       options
	cat     *Catalog
	in      Input
	inInfo  fs.FileInfo // of -input, nil for the generator and stdin
	store   *stream.RunDir
	resume  *stream.Checkpoint // the checkpoint the run resumes, if any
	metrics *metricsServer
}

// prepare makes every check that can fail before any output is touched, in
// this order: the catalog loads, the -metrics listener is bound, every
// destination can be written (an existing file is opened without being
// truncated), the input can be read, and -checkpoint-dir belongs to this
// run. The pipeline creates the output files only when it starts.
func prepare(ctx context.Context, o options, stdin io.Reader) (_ *job, err error) {
	j := &job{o: o, cat: DefaultCatalog()}
	defer func() {
		if err != nil {
			j.close()
		}
	}()
	if o.catalog != "" {
		if j.cat, err = LoadCatalog(o.catalog); err != nil {
			return nil, usageError{err}
		}
	}
	if o.metrics != "" {
		if j.metrics, err = startMetrics(o.metrics); err != nil { // distributed.go
			return nil, err
		}
	}
	for _, d := range []struct{ flag, path string }{
		{"json", o.json}, {"report", o.report}, {"dead-letter", o.deadLetter}, {"dump", o.dump},
		{"windows-jsonl", o.cli.windowsJSONL},
	} {
		if err := checkWritable(d.flag, d.path); err != nil {
			return nil, err
		}
	}
	if o.input != "" {
		j.in = Input{File: o.input, Stdin: stdin}
		if o.input != "-" {
			if j.inInfo, err = checkReadable(o.input); err != nil {
				return nil, err
			}
		}
	}
	if o.checkpointDir != "" {
		if j.store, j.resume, err = openCheckpoints(ctx, o, j.cat, j.inInfo); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func (j *job) close() {
	if j.metrics != nil {
		_ = j.metrics.Close() // the run is over; a close error changes nothing
	}
}

// checkWritable makes sure path (of -flag) can be written, without
// truncating or creating it: an existing file is opened for writing and
// closed, and a new one's directory must take a temporary file.
func checkWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil {
		if !st.Mode().IsRegular() {
			return usagef("-%s %s is not a regular file", flag, path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return usagef("-%s: %v", flag, err)
		}
		return f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".juliawolf-check-*")
	if err != nil {
		return usagef("-%s %s: %v", flag, path, errors.Unwrap(err))
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

// checkReadable makes sure the -input file exists and can be read, and
// returns its file info. A named pipe is not opened here (that waits for a
// writer); the run opens it.
func checkReadable(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, usageError{err}
	case st.IsDir():
		return nil, usagef("-input %s is a directory", path)
	case st.Mode()&fs.ModeNamedPipe != 0:
		return st, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	return st, f.Close()
}

// run runs the pipeline with the progress bar, the wave lines and the
// resume note, and completes the snapshot with the run's own figures.
func (j *job) run(ctx context.Context, sigs <-chan os.Signal, out, stderr io.Writer) (*Snapshot, error) {
	o := j.o
	cfg := Config{
		Window: o.window, MaxDelay: o.maxDelay, AllowedLateness: o.lateness, Parallel: o.parallel,
		DeadLetterFile: o.deadLetter, DumpFile: o.dump, Signals: sigs,
		Logger:       o.cli.logger(stderr), // cli.go
		WindowTracks: o.cli.windowsJSONL != "",
	}
	if j.store != nil {
		cfg.Checkpoints, cfg.CheckpointInterval = j.store, o.checkpointInterval
	}
	if j.metrics != nil {
		cfg.Metrics = j.metrics.Metrics
	}
	var bar *progress
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var count atomic.Int64
		cfg.Progress = &count
		total, unit := int64(0), "events"
		if j.inInfo != nil {
			total, unit = j.inInfo.Size(), "bytes"
		} else if o.input == "" {
			total = NewGenerator(j.cat, o.events, o.seed).Events()
		}
		bar = startProgress(stderr, &count, total, unit, progressGrace, progressTick)
	}
	in := j.in
	var gen *Generator
	if o.input == "" {
		gen = NewGenerator(j.cat, o.events, o.seed)
		gen.OnWaveDone = func(w Wave) { bar.println(out, waveLine(w)) }
		in.Plays = NewGeneratorSource(gen)
	}
	writeIntro(out, gen, o.input)
	warnWindows(o, gen, stderr) // cli.go
	if j.resume != nil {
		bar.println(out, fmt.Sprintf("  Resuming from checkpoint %d in %s", j.resume.ID, o.checkpointDir))
	}

	began := time.Now()
	snap, err := pipelineEngine(ctx, cfg, in, j.cat)
	wall := time.Since(began)
	bar.end()
	if se := (*stoppedError)(nil); errors.As(err, &se) {
		se.dir = o.checkpointDir
		return nil, se
	}
	if err != nil {
		if j.store != nil && errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("%w (run again with -checkpoint-dir %s to resume)", err, o.checkpointDir)
		}
		return nil, err
	}
	snap.Run = RunStats{WallSeconds: wall.Seconds()}
	if wall > 0 {
		snap.Run.EventsPerSec = float64(snap.EventsProcessed) / wall.Seconds()
	}
	if gen != nil {
		snap.Waves = gen.Waves()
	}
	snap.MaxDelay, snap.AllowedLateness = o.maxDelay, o.lateness
	return snap, finishOutputs(o, snap, stderr) // cli.go: settings, -windows-jsonl
}

// finish writes the snapshot and the report page, clears the checkpoints
// of the finished run and prints the report.
func (j *job) finish(snap *Snapshot, out io.Writer) error {
	o := j.o
	if o.json != "" {
		if err := snap.WriteJSON(o.json); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
	}
	if o.report != "" {
		if err := writeHTMLReport(o.report, snap); err != nil {
			return fmt.Errorf("writing report page: %w", err)
		}
	}
	if j.store != nil {
		// The run is done and its results written: nothing to resume.
		if err := j.store.Clear(); err != nil {
			return fmt.Errorf("clearing -checkpoint-dir: %w", err)
		}
	}
	writeReport(out, snap)
	if o.json != "" || o.report != "" || o.deadLetter != "" {
		_, _ = fmt.Fprintln(out)
	}
	if o.json != "" {
		_, _ = fmt.Fprintf(out, "Snapshot written to %s\n", o.json)
	}
	if o.deadLetter != "" {
		_, _ = fmt.Fprintf(out, "Dead letters written to %s (%s)\n", o.deadLetter, commas(snap.EventsInvalid))
	}
	if o.report != "" {
		_, _ = fmt.Fprintf(out, "Report page written to %s\n", o.report)
	}
	return nil
}
