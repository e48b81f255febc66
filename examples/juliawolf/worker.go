package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/redisstore"
)

// rejectHeader marks a record the producer already knows to be invalid (a
// line too long to publish whole), with the reason.
const rejectHeader = "juliawolf-reject"

// decodeRecord decodes a record written by produce into a play checked
// against the catalog; an error makes it a dead letter (counted as
// invalid).
func decodeRecord(cat *Catalog) func(r *kgo.Record) (trackPlay, error) {
	return func(r *kgo.Record) (trackPlay, error) {
		for _, h := range r.Headers {
			if h.Key == rejectHeader {
				return trackPlay{}, errors.New(string(h.Value))
			}
		}
		pl, err := DecodePlay(r.Value)
		if err != nil {
			return trackPlay{}, err
		}
		return withTrack(cat, &pl)
	}
}

// workerConfig is a worker's configuration, from its flags.
type workerConfig struct {
	brokers               []string
	topic, group, prefix  string
	redisAddr             string
	redisOpt              *redis.Options // from -redis (nil: redisAddr)
	idleExit, publishEach time.Duration
	session, connect      time.Duration
	instance              string
	events                eventSettings
	cat                   *Catalog
	metrics               *metricsServer // nil: none
	clientOpts            []kgo.Opt      // extra Kafka client options (tests)
	maxPoll               int
	quiet                 bool
	logger                *slog.Logger                  // the group's events (nil: silent)
	observe               func(*kafka.Group[trackPlay]) // called with the group before it runs (tests)
}

func runWorker(ctx context.Context, stop <-chan struct{}, args []string, stdout, _ io.Writer) error {
	var cfg workerConfig
	var brokers, metricsAddr string
	var sec kafkaSecurity
	fs := newFlagSet("worker")
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated `host:port` list")
	fs.StringVar(&cfg.topic, "topic", "", "topic of the plays")
	fs.StringVar(&cfg.group, "group", "juliawolf", "consumer group of the workers")
	fs.StringVar(&cfg.redisAddr, "redis", "", "Redis `host:port` or URL (redis://user:password@host:port/db, rediss:// for TLS) for the shared state")
	fs.StringVar(&cfg.prefix, "prefix", "juliawolf", "prefix of the Redis keys")
	fs.DurationVar(&cfg.idleExit, "idle-exit", 0, "stop once the state in Redis has covered the end of every partition of the topic for this long (0: run until SIGINT/SIGTERM)")
	fs.DurationVar(&cfg.session, "session-timeout", 10*time.Second, "group session timeout: a killed worker's partitions move after this long")
	fs.StringVar(&cfg.instance, "instance", "", "static group member id: a worker restarted with it takes its partitions back at once")
	fs.DurationVar(&cfg.connect, "connect-timeout", 15*time.Second, "bound on reaching Kafka and Redis at the start")
	fs.DurationVar(&cfg.publishEach, "publish-interval", time.Second, "how often each partition's state is checkpointed to Redis (the work a crash repeats)")
	fs.StringVar(&metricsAddr, "metrics", "", "serve /metrics and /healthz on this `host:port` while running")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print nothing at the end")
	cfg.events.register(fs)
	sec.register(fs)
	if err := parseSubFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg.brokers = splitList(brokers)
	switch {
	case len(cfg.brokers) == 0:
		return usagef("-brokers is required")
	case cfg.topic == "":
		return usagef("-topic is required")
	case cfg.group == "":
		return usagef("-group must not be empty")
	case cfg.redisAddr == "":
		return usagef("-redis is required")
	case cfg.idleExit < 0:
		return usagef("-idle-exit must be >= 0, got %s", cfg.idleExit)
	case cfg.publishEach <= 0:
		return usagef("-publish-interval must be positive, got %s", cfg.publishEach)
	case cfg.session <= 0 || cfg.connect <= 0:
		return usagef("-session-timeout and -connect-timeout must be positive")
	}
	if err := cfg.events.check(); err != nil {
		return err
	}
	secOpts, err := sec.options()
	if err != nil {
		return err
	}
	cfg.clientOpts = append(cfg.clientOpts, secOpts...)
	if cfg.redisOpt, err = redisOptions(cfg.redisAddr); err != nil {
		return err
	}
	if cfg.cat, err = cfg.events.loadCatalog(); err != nil {
		return err
	}
	if metricsAddr != "" {
		if cfg.metrics, err = startMetrics(metricsAddr); err != nil {
			return err
		}
		defer func() { _ = cfg.metrics.Close() }()
	}
	var st workerStats
	err = workerRun(ctx, stop, cfg, &st)
	if err == nil && !cfg.quiet {
		_, _ = fmt.Fprintf(stdout, "Worker done: %s records applied (%s invalid), state in Redis %s under %s:*\n",
			commas(st.records.Load()), commas(st.invalid.Load()), redisName(cfg.redisOpt), cfg.prefix)
	}
	return err
}

// workerStats count what a worker's tasks read in this run (a record read
// again after a restore counts again).
type workerStats struct{ records, invalid atomic.Int64 }

// workerRun runs a worker until it stops: stop is closed (a graceful stop:
// every task stops with a savepoint), the group's stored positions have
// covered the end of every partition for cfg.idleExit, ctx is cancelled
// (nothing more is stored: like a crash) or it fails.
//
// The worker is a kafka.Group: one task per partition it is assigned, each
// a pipeline of its own, checkpointed with its position into Redis
// (redisstore.Tasks, fenced):
//
//	kafka source (one partition; the watermarks produce carried in brook-wm)
//	  → decode (play checked against the catalog; undecodable, unknown track → dead letters)
//	  → boardEvents (pipeline.go: KeyBy(track) → window.Aggregate, late plays, dead-letter count)
//	  → partials sink (mergeable per-window partials: the task's checkpointed state)
//
// The topic is keyed by user, not by track, so a task's windows hold its
// partition's share of each track; the shares are mergeable, and report
// merges them. Lateness is decided by the carried watermark, which is the
// single-process one, so every share holds exactly the plays one process
// would have put in it.
func workerRun(ctx context.Context, stop <-chan struct{}, cfg workerConfig, st *workerStats) error {
	if cfg.connect <= 0 {
		cfg.connect = 15 * time.Second
	}
	if cfg.session <= 0 {
		cfg.session = 10 * time.Second
	}
	if cfg.publishEach <= 0 {
		cfg.publishEach = time.Second
	}
	if cfg.redisOpt == nil {
		cfg.redisOpt = &redis.Options{Addr: cfg.redisAddr}
	}
	rdb := redis.NewClient(cfg.redisOpt)
	defer func() { _ = rdb.Close() }()
	pctx, cancel := context.WithTimeout(ctx, cfg.connect)
	err := rdb.Ping(pctx).Err()
	if err == nil {
		err = claimSettings(pctx, rdb, cfg.prefix, newDistSettings(cfg.events, cfg.cat))
	}
	cancel()
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return err
	case err != nil:
		return fmt.Errorf("redis %s unreachable: %w", redisName(cfg.redisOpt), err)
	}

	jobCfg := Config{Window: cfg.events.window, AllowedLateness: cfg.events.lateness, Parallel: 1}
	build := func(t *kafka.Task[trackPlay]) error {
		dec := kafka.Decode(stream.Map(t.Input, func(m kafka.Message[trackPlay]) kafka.Message[trackPlay] {
			st.records.Add(1)
			if m.Err != nil {
				st.invalid.Add(1)
			}
			return m
		}))
		dead := stream.Map(dec.DeadLetters(), func(d stream.DeadLetter[kafka.Message[trackPlay]]) deadLetter {
			return deadLetter{err: d.Err}
		})
		stream.To(boardEvents(dec.Stream, dead, jobCfg), newPartialSink(cfg.cat), stream.Name(partialsName))
		return nil
	}
	srcOpts := []kafka.SourceOption{
		kafka.Brokers(cfg.brokers...),
		kafka.ClientOptions(cfg.clientOpts...),
		kafka.CarryWatermarks(),
		kafka.EventTime(func(tp trackPlay) time.Time { return tp.EventTime.Std() }),
	}
	if cfg.instance != "" {
		srcOpts = append(srcOpts, kafka.InstanceID(cfg.instance))
	}
	if cfg.maxPoll > 0 {
		srcOpts = append(srcOpts, kafka.MaxPollRecords(cfg.maxPoll))
	}
	opts := []kafka.GroupOption{
		kafka.SourceOptions(srcOpts...),
		kafka.GroupClientOptions(kgo.SessionTimeout(cfg.session), kgo.HeartbeatInterval(min(3*time.Second, cfg.session/5))),
		kafka.CheckpointInterval(cfg.publishEach),
		kafka.ConnectTimeout(cfg.connect),
		kafka.PipelineOptions(cfg.metrics.pipelineOptions()...),
		kafka.GroupLogger(cfg.logger),
	}
	if cfg.idleExit > 0 {
		// Not an idle timeout: the group's stored positions must cover the
		// end of every partition (a dead worker's too) for that long.
		opts = append(opts, kafka.ExitWhenDone(cfg.idleExit))
	}
	g := kafka.NewGroup(cfg.group, cfg.topic, decodeRecord(cfg.cat),
		redisstore.NewTasks(rdb, tasksPrefix(cfg.prefix)), build, opts...)
	if cfg.observe != nil {
		cfg.observe(g)
	}
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			g.Stop()
		case <-done:
		}
	}()
	err = g.Run(ctx)
	if err == nil {
		// The run's processing time, for the report's events/s (not
		// state: outside the dataflow, best effort).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.connect)
		span := strconv.FormatInt(start.UnixNano(), 10) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
		_ = rdb.HSet(rctx, runsKey(cfg.prefix), fmt.Sprintf("%s/%d", cfg.group, start.UnixNano()), span).Err()
		cancel()
	}
	return err
}
