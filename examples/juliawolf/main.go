package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/brook-streams/brook/internal/signals"
	"github.com/brook-streams/brook/stream"
)

// Exit statuses.
const (
	exitOK    = 0
	exitRun   = 1 // a failure during the run
	exitUsage = 2 // bad flags, unreadable input or catalog
)

// Progress bar timing: nothing is drawn for runs shorter than the grace.
const (
	progressGrace = time.Second
	progressTick  = 200 * time.Millisecond
)

func main() {
	// produce, worker, report: the distributed mode (distributed.go).
	if code, ok := runCommand(os.Args[1:], os.Stdout, os.Stderr); ok { // cli.go
		os.Exit(code)
	}
	// SIGINT and SIGTERM stop the run (with a final checkpoint under
	// -checkpoint-dir); see stoppedError.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, signals.Stop...)
	os.Exit(runWithSignals(context.Background(), sigs, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	input, catalog, json, deadLetter, dump, report string
	events                                         int64
	seed                                           uint64
	window, maxDelay, lateness                     time.Duration
	parallel                                       int
	quiet                                          bool
	checkpointDir                                  string
	checkpointInterval                             time.Duration
	metrics                                        string
	cli                                            cliOptions // cli.go
}

// usageError is a problem with the command line or its files: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("juliawolf", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defineFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return o, err
		}
		return o, usageError{fmt.Errorf("%w"+hintHelp, err)}
	}
	if o.cli.version {
		_, _ = fmt.Fprintln(stdout, version())
		return o, flag.ErrHelp // done: exit 0
	}
	if err := o.cli.check(); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected argument %q (all options are flags)"+hintHelp, fs.Arg(0))
	case o.events < 0:
		return o, usagef("-events must be >= 0, got %d", o.events)
	case o.window <= 0:
		return o, usagef("-window must be positive, got %s", o.window)
	case o.maxDelay < 0:
		return o, usagef("-max-delay must be >= 0, got %s", o.maxDelay)
	case o.lateness < 0:
		return o, usagef("-allowed-lateness must be >= 0, got %s", o.lateness)
	case o.parallel < 1:
		return o, usagef("-parallel must be >= 1, got %d", o.parallel)
	case o.parallel > stream.DefaultMaxParallelism:
		return o, usagef("-parallel must be at most %d (the pipeline's maximum parallelism, its number of key groups), got %d", stream.DefaultMaxParallelism, o.parallel)
	case o.dump != "" && o.input != "":
		return o, usagef("-dump writes the generated plays; it cannot be used with -input")
	case o.checkpointInterval <= 0:
		return o, usagef("-checkpoint-interval must be positive, got %s", o.checkpointInterval)
	case o.checkpointDir != "" && o.input == "-":
		return o, usagef("-checkpoint-dir cannot be used with -input - (standard input cannot be read again from a checkpoint)")
	}
	return o, nil
}

// defineFlags defines the default run's flags on fs, into o.
func defineFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.input, "input", "", "read plays from this JSON Lines `file` (- for stdin) instead of the generator")
	fs.StringVar(&o.catalog, "catalog", "", "track catalog JSON array `file` (default: built in)")
	fs.StringVar(&o.json, "json", "juliawolf_snapshot.json", "write the snapshot to this `file` (empty: none)")
	fs.StringVar(&o.deadLetter, "dead-letter", "", "write rejected lines to this JSON Lines `file`")
	fs.StringVar(&o.dump, "dump", "", "write the generated plays to this JSON Lines `file`")
	fs.Int64Var(&o.events, "events", DefaultEvents, "number of plays to generate, waves in proportion")
	fs.Uint64Var(&o.seed, "seed", DefaultSeed, "generator seed")
	fs.DurationVar(&o.window, "window", time.Minute, "tumbling event-time window size")
	fs.DurationVar(&o.maxDelay, "max-delay", 5*time.Second, "out-of-orderness bound B of the watermark")
	fs.DurationVar(&o.lateness, "allowed-lateness", 0, "allowed lateness L of the windows")
	fs.IntVar(&o.parallel, "parallel", min(runtime.GOMAXPROCS(0), stream.DefaultMaxParallelism), "parallel instances of the keyed stage")
	fs.BoolVar(&o.quiet, "quiet", false, "print no report (the snapshot is still written)")
	fs.StringVar(&o.report, "report", "", "write a self-contained HTML report page to this `file`")
	fs.StringVar(&o.checkpointDir, "checkpoint-dir", "", "checkpoint the run's state into this `directory`, and resume from the checkpoint there if any")
	fs.DurationVar(&o.checkpointInterval, "checkpoint-interval", time.Second, "time between checkpoints (with -checkpoint-dir)")
	fs.StringVar(&o.metrics, "metrics", "", "serve /metrics and /healthz on this `host:port` while running")
	o.cli.define(fs) // cli.go
}

// runWithSignals is run stopped by the signals arriving on sigs (nil: none).
func runWithSignals(ctx context.Context, sigs <-chan os.Signal, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := runErr(ctx, sigs, args, stdin, stdout, stderr)
	var ue usageError
	var se *stoppedError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &se):
		_, _ = fmt.Fprintf(stderr, "juliawolf: %v\n", err)
		return se.exitCode()
	case errors.As(err, &ue):
		_, _ = fmt.Fprintf(stderr, "juliawolf: %v\n", err)
		return exitUsage
	default:
		_, _ = fmt.Fprintf(stderr, "juliawolf: %v\n", err)
		return exitRun
	}
}

// openCheckpoints opens -checkpoint-dir for this run: its checkpoint, if
// it holds one of a run with the same input, catalog and settings; an
// error if it holds another run's.
func openCheckpoints(ctx context.Context, o options, cat *Catalog, in fs.FileInfo) (*stream.RunDir, *stream.Checkpoint, error) {
	key, err := newRunKey(o, cat, in)
	if err != nil {
		return nil, nil, usageError{err}
	}
	dir, latest, err := stream.OpenRunDir(ctx, o.checkpointDir, runKeyFile, key)
	if errors.Is(err, stream.ErrOtherRun) {
		return nil, nil, usagef("-checkpoint-dir %v: remove them or use another directory", err)
	}
	if err != nil {
		return nil, nil, usagef("-checkpoint-dir: %v", err)
	}
	return dir, latest, nil
}
