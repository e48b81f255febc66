// Command clickcount counts page views per page in tumbling event-time
// windows, from a Kafka topic of clicks to a Kafka topic of counts, as any
// number of worker processes sharing the work through a consumer group
// (kafka.Group): start as many as you like, kill them, add more; each
// window's count is written exactly once.
//
//	clickcount -brokers localhost:9092 -in clicks -out page-counts \
//	    -redis redis://localhost:6379/0 -window 1m
//
// The input topic must be keyed by page (the Kafka key of each click is its
// page), so that every click of a page is in one partition: each partition
// is a task with its own windows, state and position, kept in Redis
// (-redis) or, for workers on one machine, in a directory (-store-dir).
// Clicks are JSON {"page": "...", "ts": <unix ms>}; a click that does not
// decode is reported on stderr and skipped (the run goes on). Counts are
// JSON {"page", "start", "end" (unix ms), "count"}, keyed by page, written
// in transactions: read them with isolation.level=read_committed.
//
// A worker runs until SIGINT or SIGTERM (it then stops its tasks with a
// savepoint and exits 0) or, with -exit-when-done d, until the group's
// stored positions have covered the end of every input partition for d.
// Bad flags, a missing topic or unreachable brokers or Redis end it within
// -connect-timeout with a one-line error and a non-zero status.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/redisstore"
	"github.com/brook-streams/brook/window"
)

// Click is one page view.
type Click struct {
	Page string `json:"page"`
	TS   int64  `json:"ts"` // unix milliseconds
}

// Count is one window's number of clicks of one page.
type Count struct {
	Page  string `json:"page"`
	Start int64  `json:"start"` // unix milliseconds, inclusive
	End   int64  `json:"end"`   // unix milliseconds, exclusive
	Count int64  `json:"count"`
}

func decodeClick(r *kgo.Record) (Click, error) {
	var c Click
	if err := json.Unmarshal(r.Value, &c); err != nil {
		return Click{}, err
	}
	if c.Page == "" {
		return Click{}, errors.New("click without page")
	}
	return c, nil
}

type config struct {
	brokers, in, out, group string
	redisURL, storeDir      string
	instance                string
	window, lateness        time.Duration
	outOfOrder              time.Duration
	checkpoint              time.Duration
	session                 time.Duration
	connect                 time.Duration
	exitWhenDone            time.Duration
	verbose                 bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("clickcount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.brokers, "brokers", "localhost:9092", "Kafka seed brokers, comma-separated")
	fs.StringVar(&c.in, "in", "clicks", "input topic (keyed by page)")
	fs.StringVar(&c.out, "out", "page-counts", "output topic")
	fs.StringVar(&c.group, "group", "clickcount", "consumer group (and transactional id prefix)")
	fs.StringVar(&c.redisURL, "redis", "", "task store in Redis: redis://[user:pass@]host:port/db or rediss://")
	fs.StringVar(&c.storeDir, "store-dir", "", "task store in a local directory (workers on one machine)")
	fs.StringVar(&c.instance, "instance", "", "static group member id (a restarted worker takes its partitions back at once)")
	fs.DurationVar(&c.window, "window", time.Minute, "tumbling window size")
	fs.DurationVar(&c.lateness, "allowed-lateness", 0, "allowed lateness of the windows")
	fs.DurationVar(&c.outOfOrder, "out-of-orderness", 5*time.Second, "bounded out-of-orderness of each partition")
	fs.DurationVar(&c.checkpoint, "checkpoint", 2*time.Second, "checkpoint interval (output is visible this late)")
	fs.DurationVar(&c.session, "session-timeout", 10*time.Second, "group session timeout (a killed worker's partitions move after it)")
	fs.DurationVar(&c.connect, "connect-timeout", 15*time.Second, "bound on reaching Kafka and the store at start")
	fs.DurationVar(&c.exitWhenDone, "exit-when-done", 0, "exit once the group has covered the input's end for this long (0: run until a signal)")
	fs.BoolVar(&c.verbose, "v", false, "log the group's events to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case (c.redisURL == "") == (c.storeDir == ""):
		return nil, errors.New("give exactly one of -redis and -store-dir")
	case c.window <= 0:
		return nil, fmt.Errorf("-window %v must be positive", c.window)
	case c.checkpoint <= 0 || c.session <= 0 || c.connect <= 0:
		return nil, errors.New("-checkpoint, -session-timeout and -connect-timeout must be positive")
	case c.lateness < 0 || c.outOfOrder < 0 || c.exitWhenDone < 0:
		return nil, errors.New("-allowed-lateness, -out-of-orderness and -exit-when-done must not be negative")
	case c.in == "" || c.out == "" || c.group == "" || c.brokers == "":
		return nil, errors.New("-brokers, -in, -out and -group must not be empty")
	}
	return c, nil
}

// openStore returns the task store the flags name, checked to answer
// within the connect timeout, and a function that closes it.
func openStore(ctx context.Context, c *config) (kafka.TaskStore, func(), error) {
	if c.storeDir != "" {
		s, err := kafka.NewDirTaskStore(c.storeDir, 3)
		return s, func() {}, err
	}
	opt, err := goredis.ParseURL(c.redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	client := goredis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, c.connect)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close() // the error is the one to report
		return nil, nil, fmt.Errorf("redis %s unreachable: %w", opt.Addr, err)
	}
	return redisstore.NewTasks(client, c.group), func() { _ = client.Close() }, nil
}

// build is the job of each task: decode, key by page, count per window,
// write each window's count once.
func build(c *config, stderr io.Writer) func(*kafka.Task[Click]) error {
	return func(t *kafka.Task[Click]) error {
		d := kafka.Decode(t.Input)
		stream.To(d.DeadLetters(), stream.SinkFunc[stream.DeadLetter[kafka.Message[Click]]](
			func(_ context.Context, r stream.Record[stream.DeadLetter[kafka.Message[Click]]]) error {
				_, _ = fmt.Fprintf(stderr, "clickcount: skipped: %v\n", r.Value.Err)
				return nil
			}), stream.Name("bad-clicks"))
		opts := []window.Option{stream.Name("counts")}
		if c.lateness > 0 {
			opts = append(opts, window.AllowedLateness(c.lateness))
		}
		counts := window.Aggregate(stream.KeyBy(d.Stream, func(c Click) string { return c.Page }),
			window.Tumbling(c.window), window.Count[Click](), opts...)
		stream.To(counts.Late(), stream.SinkFunc[window.LateRecord[Click]](
			func(_ context.Context, r stream.Record[window.LateRecord[Click]]) error {
				_, _ = fmt.Fprintf(stderr, "clickcount: late click on %s at %v: its window %v has closed\n", r.Value.Record.Value.Page, r.Time, r.Value.Windows)
				return nil
			}), stream.Name("late-clicks"))
		rows := stream.Map(counts.Results(), func(r window.Result[string, int64]) Count {
			return Count{Page: r.Key, Start: r.Start.Std().UnixMilli(), End: r.End.Std().UnixMilli(), Count: r.Value}
		})
		stream.To(rows, kafka.NewTransactionalSink(c.out, func(v Count) ([]byte, error) { return json.Marshal(v) },
			t.TransactionalID(c.group), kafka.Brokers(strings.Split(c.brokers, ",")...),
			kafka.Key(func(v Count) []byte { return []byte(v.Page) }),
			kafka.TransactionTimeout(max(time.Minute, 4*c.checkpoint))), stream.Name("out"))
		return nil
	}
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		_, _ = fmt.Fprintf(stderr, "clickcount: %v\n", err)
		return 2
	}
	store, closeStore, err := openStore(ctx, c)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "clickcount: %v\n", err)
		return 1
	}
	defer closeStore()
	var logger *slog.Logger
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	srcOpts := []kafka.SourceOption{
		kafka.Brokers(strings.Split(c.brokers, ",")...),
		kafka.EventTime(func(c Click) time.Time { return time.UnixMilli(c.TS) }),
		kafka.OutOfOrderness(c.outOfOrder),
		kafka.IdleTimeout(0), // a quiet partition holds its windows: results independent of timing
	}
	if c.instance != "" {
		srcOpts = append(srcOpts, kafka.InstanceID(c.instance))
	}
	opts := []kafka.GroupOption{
		kafka.SourceOptions(srcOpts...),
		kafka.GroupClientOptions(kgo.SessionTimeout(c.session), kgo.HeartbeatInterval(min(time.Second, c.session/5))),
		kafka.CheckpointInterval(c.checkpoint),
		kafka.ConnectTimeout(c.connect),
		kafka.CoPartitioned(func(c Click) []byte { return []byte(c.Page) }),
		kafka.GroupLogger(logger),
	}
	if c.exitWhenDone > 0 {
		opts = append(opts, kafka.ExitWhenDone(c.exitWhenDone))
	}
	g := kafka.NewGroup(c.group, c.in, decodeClick, store, build(c, stderr), opts...)

	// A signal stops the group gracefully: every task saves its state.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			g.Stop()
		case <-done:
		}
	}()
	if err := g.Run(ctx); err != nil {
		_, _ = fmt.Fprintf(stderr, "clickcount: %v\n", err)
		return 1
	}
	return 0
}

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stderr)) }
