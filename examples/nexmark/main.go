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
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Exit statuses.
const (
	exitOK    = 0
	exitRun   = 1 // a failure during the run
	exitUsage = 2 // bad flags or unusable files
)

// DefaultEvents is the default -events.
const DefaultEvents = 10_000_000

func main() {
	// SIGINT and SIGTERM cancel the run; see stoppedError.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals...)
	ctx, stop := cancelOnSignal(context.Background(), sigs)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed command line.
type options struct {
	query                        string
	events                       int64
	parallel                     int
	out, input, dump, cpuprofile string
	gen                          GeneratorConfig
}

// usageError is a problem with the command line or its files: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func queryNames() string {
	names := make([]string, len(Queries))
	for i, q := range Queries {
		names[i] = q.Name
	}
	return strings.Join(names, ", ")
}

func parseFlags(args []string, stdout io.Writer) (options, error) {
	o := options{gen: DefaultGeneratorConfig()}
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.query, "query", "", "the `query` to run: "+queryNames())
	fs.Int64Var(&o.events, "events", DefaultEvents, "number of events to generate")
	fs.IntVar(&o.parallel, "parallel", runtime.GOMAXPROCS(0), "parallel instances of every stage")
	fs.StringVar(&o.out, "out", "", "write the result rows to this JSON Lines `file` (- for stdout)")
	fs.StringVar(&o.input, "input", "", "read the events from this JSON Lines `file` (as written by -dump) instead of the generator")
	fs.StringVar(&o.dump, "dump", "", "write the generated events to this JSON Lines `file` before running the query")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this `file`")
	fs.Uint64Var(&o.gen.Seed, "seed", DefaultSeed, "generator seed")
	fs.Int64Var(&o.gen.Rate, "rate", DefaultRate, "generator event rate, events per second of event time")
	fs.Int64Var(&o.gen.OutOfOrderGroup, "out-of-order", 1, "shuffle event times within groups of this many events")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprintln(stdout, "Usage: nexmark -query q5 [-events N] [-parallel N] [-out PATH] [-input PATH] [-dump PATH]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return o, err
		}
		return o, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected argument %q (all options are flags)", fs.Arg(0))
	case o.query == "" && o.dump == "":
		return o, usagef("-query is required (one of %s)", queryNames())
	case o.events < 0:
		return o, usagef("-events must be >= 0, got %d", o.events)
	case o.parallel < 1:
		return o, usagef("-parallel must be >= 1, got %d", o.parallel)
	case o.dump != "" && o.input != "":
		return o, usagef("-dump writes generated events; it cannot be used with -input")
	}
	if o.query != "" {
		if _, ok := LookupQuery(o.query); !ok {
			return o, usagef("unknown -query %q (want one of %s)", o.query, queryNames())
		}
	}
	if _, err := NewGenerator(o.gen); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// run is the whole program; it returns the exit status. Errors go to
// stderr as one line, as does the note of a run a signal stopped (ctx's
// cause is then a *stoppedError).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := runErr(ctx, args, stdout, stderr)
	var ue usageError
	var se *stoppedError
	switch {
	case err != nil && ctx.Err() != nil && errors.As(context.Cause(ctx), &se):
		_, _ = fmt.Fprintf(stderr, "nexmark: %v\n", se)
		return se.exitCode()
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		_, _ = fmt.Fprintf(stderr, "nexmark: %v\n", err)
		return exitUsage
	default:
		_, _ = fmt.Fprintf(stderr, "nexmark: %v\n", oneLine(err))
		return exitRun
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func runErr(ctx context.Context, args []string, stdout, stderr io.Writer) (rerr error) {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	gen, err := NewGenerator(o.gen)
	if err != nil {
		return usageError{err}
	}

	// Open everything that can fail before anything runs.
	var in *os.File
	if o.input != "" {
		if in, err = os.Open(o.input); err != nil {
			return usageError{err}
		}
		defer func() { _ = in.Close() }() // read only: nothing to lose on close
		if st, err := in.Stat(); err != nil {
			return usageError{err}
		} else if st.IsDir() {
			return usagef("-input %s is a directory", o.input)
		}
	}
	var dump *os.File
	if o.dump != "" {
		if dump, err = os.Create(o.dump); err != nil {
			return usageError{err}
		}
		defer closeInto(dump, &rerr)
	}
	report := stdout
	var out io.Writer
	switch o.out {
	case "":
	case "-":
		out, report = stdout, stderr
	default:
		f, err := os.Create(o.out)
		if err != nil {
			return usageError{err}
		}
		defer closeInto(f, &rerr)
		out = f
	}
	var prof *os.File
	if o.cpuprofile != "" {
		if prof, err = os.Create(o.cpuprofile); err != nil {
			return usageError{err}
		}
		defer closeInto(prof, &rerr)
	}

	if dump != nil {
		if err := Dump(dump, gen, o.events); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		if _, err := fmt.Fprintf(report, "wrote %d events to %s\n", o.events, o.dump); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if o.query == "" {
		return nil
	}
	q, _ := LookupQuery(o.query)

	p := stream.New(stream.WithParallelism(o.parallel))
	var ev stream.Stream[Event]
	var decoded atomic.Int64
	if in != nil {
		ev = FileEvents(p, in, o.parallel)
		ev = countEvents(ev, &decoded)
	} else {
		ev = Events(p, gen, o.events, o.parallel, DefaultChunk)
	}
	sink := &RowSink{W: out}
	q.Attach(ev, sink)

	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
	}
	cpu0, cpuOK := cpuTime()
	start := time.Now()
	err = p.Run(ctx)
	elapsed := time.Since(start)
	cpu1, _ := cpuTime()
	if prof != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	n := o.events
	if in != nil {
		n = decoded.Load()
	}
	line := fmt.Sprintf("%s (%s): %d events in %v: %s events/s (parallel %d, GOMAXPROCS %d); %d rows",
		q.Name, q.Title, n, elapsed.Round(time.Millisecond), humanRate(float64(n)/elapsed.Seconds()),
		o.parallel, runtime.GOMAXPROCS(0), sink.N)
	if cpu := cpu1 - cpu0; cpuOK && cpu > 0 {
		// Events per second of CPU time: the throughput per core, which a
		// busy shared machine disturbs less than the wall-clock figure.
		line += fmt.Sprintf("; CPU %v: %s events per core-second", cpu.Round(time.Millisecond), humanRate(float64(n)/cpu.Seconds()))
	}
	if _, err := fmt.Fprintln(report, line); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// countEvents counts the events of s into n, per instance, added up when
// the instance closes.
func countEvents(s stream.Stream[Event], n *atomic.Int64) stream.Stream[Event] {
	return stream.Apply(s, func() stream.Operator[Event, Event] { return &counter{total: n} }, stream.Name("count"))
}

type counter struct {
	n     int64
	total *atomic.Int64
}

func (c *counter) ProcessRecord(r stream.Record[Event], out stream.Emitter[Event]) error {
	c.n++
	return out.Emit(r)
}

func (c *counter) ProcessWatermark(stream.Time, stream.Emitter[Event]) error { return nil }

func (c *counter) Close() error {
	c.total.Add(c.n)
	return nil
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f K", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func closeInto(c io.Closer, err *error) {
	if e := c.Close(); e != nil && *err == nil {
		*err = e
	}
}
