package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/prom"
)

// The distributed mode: three subcommands beside the default single-process
// run.
//
//	juliawolf produce -brokers B -topic T [-input F | -events N] [-seed S]
//	juliawolf worker  -brokers B -topic T -group G -redis ADDR [-idle-exit D]
//	juliawolf report  -redis ADDR [-brokers B -topic T] [-json PATH]
//
// The answer must be the single-process snapshot's, and lateness is what
// makes that hard: in one process a play is late when the watermark in
// force when it arrives, W = (largest valid event time seen so far in the
// input order) - B - 1, has passed its window's end - 1 + L. A worker sees
// only its partitions, so watermarks of its own would call other plays
// late. The library carries the single-process watermark through Kafka
// instead (kafka.CarryWatermarks): produce runs the single-process
// watermark generator (over valid plays only, so it needs the catalog) and
// its Kafka sink writes the watermark in force before each record into the
// record's brook-wm header, and at the end a final watermark to every
// partition; each worker task's source emits that watermark before the
// record, so window.Aggregate calls exactly the plays late that one process
// would, and fires every window at the end, on any number of partitions
// and workers.
//
// A worker is a kafka.Group: one task per assigned partition, running the
// single-process dataflow (pipeline.go's boardEvents: KeyBy(track) →
// window.Aggregate → late plays, dead-letter count) into a sink of
// mergeable partials (partials.go), checkpointed with the partition's
// position into Redis (stream/redisstore.Tasks, fenced), so a restart or a
// rebalance neither loses nor double-counts. report reads each task's
// latest checkpoint and merges the partials (counts add, HLL and quantile
// sketches merge exactly) into the snapshot through the single-process
// leaderboard sink.

// runSubcommand runs a distributed-mode subcommand if args[0] names one
// (produce, worker, report). It reports false for anything else, which is
// the default single-process run. It handles SIGINT and SIGTERM itself: a
// worker stops gracefully on the first signal (publishing its state) and
// at once on a second one.
func runSubcommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	var fn func(ctx context.Context, stop <-chan struct{}, args []string, stdout, stderr io.Writer) error
	switch args[0] {
	case "produce":
		fn = runProduce
	case "worker":
		fn = runWorker
	case "report":
		fn = runReport
	default:
		return 0, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		close(stop) // first signal: a graceful stop
		select {
		case <-sigs:
			cancel() // second: at once
		case <-ctx.Done():
		}
	}()
	return exitCode(fn(ctx, stop, args[1:], stdout, stderr), "juliawolf "+args[0], stderr), true
}

// exitCode maps a subcommand's error to the exit status, printing it.
func exitCode(err error, name string, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	default:
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRun
	}
}

// newFlagSet returns a flag set for a subcommand that prints its usage to
// stdout on -h and reports errors as usage errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("juliawolf "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseSubFlags parses args, printing the usage on -h.
func parseSubFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprintf(stdout, "Usage: %s [flags]\n", fs.Name())
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{fmt.Errorf("%w (see %s -h)", err, fs.Name())}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	return nil
}

// eventSettings are the event-time flags every mode shares.
type eventSettings struct {
	catalog                    string
	window, maxDelay, lateness time.Duration
}

func (s *eventSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.catalog, "catalog", "", "track catalog JSON array `file` (default: built in)")
	fs.DurationVar(&s.window, "window", time.Minute, "tumbling event-time window size")
	fs.DurationVar(&s.maxDelay, "max-delay", 5*time.Second, "out-of-orderness bound B of the watermark")
	fs.DurationVar(&s.lateness, "allowed-lateness", 0, "allowed lateness L of the windows")
}

func (s *eventSettings) check() error {
	switch {
	case s.window <= 0:
		return usagef("-window must be positive, got %s", s.window)
	case s.maxDelay < 0:
		return usagef("-max-delay must be >= 0, got %s", s.maxDelay)
	case s.lateness < 0:
		return usagef("-allowed-lateness must be >= 0, got %s", s.lateness)
	}
	return nil
}

func (s *eventSettings) loadCatalog() (*Catalog, error) {
	if s.catalog == "" {
		return DefaultCatalog(), nil
	}
	cat, err := LoadCatalog(s.catalog)
	if err != nil {
		return nil, usageError{err}
	}
	return cat, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// metricsServer serves /metrics (a fresh Prometheus registry fed by
// brook's metrics hook, stream/prom) and /healthz while a mode runs.
type metricsServer struct {
	Metrics *prom.Metrics
	srv     *http.Server
	ln      net.Listener
	done    chan error
}

// startMetrics listens on addr ("host:port"; port 0 picks a free one) and
// serves until Close.
func startMetrics(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	if err == nil {
		err = registerProcessMetrics(reg) // cli.go
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("-metrics: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s := &metricsServer{Metrics: m, ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *metricsServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting briefly for scrapes in progress.
func (s *metricsServer) Close() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}

// pipelineOptions returns the stream options of a mode: metrics when a
// server runs.
func (s *metricsServer) pipelineOptions() []stream.Option {
	if s == nil {
		return nil
	}
	return []stream.Option{stream.WithMetrics(s.Metrics)}
}
