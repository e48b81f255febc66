package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/term"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed command line.
type options struct {
	input, catalog, json, deadLetter, dump, report string
	events                                         int64
	seed                                           uint64
	window, maxDelay, lateness                     time.Duration
	parallel                                       int
	quiet                                          bool
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
	fs.IntVar(&o.parallel, "parallel", runtime.GOMAXPROCS(0), "parallel instances of the keyed stage")
	fs.BoolVar(&o.quiet, "quiet", false, "print no report (the snapshot is still written)")
	fs.StringVar(&o.report, "report", "", "write a self-contained HTML report page to this `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: juliawolf [flags]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return o, err
		}
		return o, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected argument %q (all options are flags)", fs.Arg(0))
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
	case o.dump != "" && o.input != "":
		return o, usagef("-dump writes the generated plays; it cannot be used with -input")
	}
	return o, nil
}

// run is the whole program: it parses args, runs, reports, and returns the
// exit status. Errors go to stderr as one line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := runErr(ctx, args, stdin, stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "juliawolf: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "juliawolf: %v\n", err)
		return exitRun
	}
}

func runErr(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (rerr error) {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}

	cat := DefaultCatalog()
	if o.catalog != "" {
		if cat, err = LoadCatalog(o.catalog); err != nil {
			return usageError{err}
		}
	}

	// Open everything that can fail before the run starts.
	var in io.Reader
	var inSize int64
	if o.input == "-" {
		in = stdin
	} else if o.input != "" {
		f, err := os.Open(o.input)
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return usageError{err}
		}
		if st.IsDir() {
			return usagef("-input %s is a directory", o.input)
		}
		in, inSize = f, st.Size()
	}
	var dead *DeadLetterWriter
	if o.deadLetter != "" {
		f, err := os.Create(o.deadLetter)
		if err != nil {
			return usageError{err}
		}
		defer closeInto(f, &rerr)
		dead = NewDeadLetterWriter(f)
	}
	var dump io.Writer
	if o.dump != "" {
		f, err := os.Create(o.dump)
		if err != nil {
			return usageError{err}
		}
		defer closeInto(f, &rerr)
		dump = f
	}

	out := stdout
	if o.quiet {
		out = io.Discard
	}
	var count atomic.Int64
	var bar *progress
	startBar := func(total int64, unit string) {
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			bar = startProgress(stderr, &count, total, unit, progressGrace, progressTick)
		}
	}

	var src PlaySource
	var gen *Generator
	if in != nil {
		startBar(inSize, "bytes")
		if bar != nil {
			in = countingReader{r: in, n: &count}
		}
		src = NewLineSource(in, dead)
	} else {
		gen = NewGenerator(cat, o.events, o.seed)
		gen.OnWaveDone = func(w Wave) { bar.println(out, waveLine(w)) }
		gs := NewGeneratorSource(gen, dump)
		startBar(gen.Events(), "events")
		if bar != nil {
			gs.count = &count
		}
		src = gs
	}
	writeIntro(out, gen, o.input)

	cfg := Config{
		Window:          o.window,
		MaxDelay:        o.maxDelay,
		AllowedLateness: o.lateness,
		Parallel:        o.parallel,
		DeadLetters:     dead,
	}
	began := time.Now()
	snap, err := mainEngine(ctx, cfg, src, cat)
	wall := time.Since(began)
	bar.end()
	if err != nil {
		return err
	}
	if err := dead.Flush(); err != nil {
		return err
	}
	snap.Run = RunStats{WallSeconds: wall.Seconds()}
	if wall > 0 {
		snap.Run.EventsPerSec = float64(snap.EventsProcessed) / wall.Seconds()
	}
	if gen != nil {
		snap.Waves = gen.Waves()
	}
	snap.MaxDelay, snap.AllowedLateness = o.maxDelay, o.lateness

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
	writeReport(out, snap)
	if o.json != "" || o.report != "" || o.deadLetter != "" {
		fmt.Fprintln(out)
	}
	if o.json != "" {
		fmt.Fprintf(out, "Snapshot written to %s\n", o.json)
	}
	if o.deadLetter != "" {
		fmt.Fprintf(out, "Dead letters written to %s (%s)\n", o.deadLetter, commas(snap.EventsInvalid))
	}
	if o.report != "" {
		fmt.Fprintf(out, "Report page written to %s\n", o.report)
	}
	return nil
}

// closeInto closes f and, if that fails and *err is nil, reports it there.
func closeInto(f *os.File, err *error) {
	if cerr := f.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("closing %s: %w", f.Name(), cerr)
	}
}
