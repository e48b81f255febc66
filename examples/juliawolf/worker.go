package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/window"
)

// Kafka record headers written by produce and read by workers.
const (
	// wmHeader is the watermark in force just before the record in the
	// producer's (global) order, in nanoseconds, base 10.
	wmHeader = "brook-wm"
	// rejectHeader marks a record the producer already knows to be invalid
	// (a line too long to publish whole), with the reason.
	rejectHeader = "juliawolf-reject"
)

// wirePlay is a record as a worker decodes it: the play and the watermark
// stamp that decides its lateness.
type wirePlay struct {
	Play Play
	WM   int64
}

// decodeWire decodes a record written by produce; an error makes it an
// invalid record (dead-lettered and counted).
func decodeWire(r *kgo.Record) (wirePlay, error) {
	var w wirePlay
	stamped := false
	for _, h := range r.Headers {
		switch h.Key {
		case rejectHeader:
			return w, errors.New(string(h.Value))
		case wmHeader:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil {
				return w, fmt.Errorf("bad %s header %q", wmHeader, clip(string(h.Value)))
			}
			w.WM, stamped = v, true
		}
	}
	if !stamped {
		return w, fmt.Errorf("no %s header (not written by juliawolf produce)", wmHeader)
	}
	p, err := DecodePlay(r.Value)
	if err != nil {
		return w, err
	}
	w.Play = p
	return w, nil
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
	observe               func(*partitionStore) // called with the store before the run (tests)
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
	fs.DurationVar(&cfg.publishEach, "publish-interval", time.Second, "how often the state is published to Redis")
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
	st, err := workerRun(ctx, stop, cfg)
	if err == nil && !cfg.quiet {
		_, _ = fmt.Fprintf(stdout, "Worker done: %s records applied (%s invalid), state in Redis %s under %s:*\n",
			commas(st.records), commas(st.invalid), redisName(cfg.redisOpt), cfg.prefix)
	}
	return err
}

// workerStats are what a worker applied in this run.
type workerStats struct{ records, invalid int64 }

// workerRun runs a worker until it stops: stop is closed (a graceful stop:
// the state is published), the source has been idle for cfg.idleExit, ctx
// is cancelled (nothing more is published: like a crash) or it fails.
//
// The pipeline is a single chain, so every record is applied to the
// partition state inside the source's Emit:
//
//	kafka source (consumer group; per-partition state store as its PartitionListener)
//	  → classify (Process: enrich with the catalog, window, on-time or late by brook-wm)
//	  → partition-state sink      (on-time plays per window and track, late plays per track)
//	  ↘ invalid sink (dead letters: undecodable, unknown track)
func workerRun(ctx context.Context, stop <-chan struct{}, cfg workerConfig) (workerStats, error) {
	if cfg.connect <= 0 {
		cfg.connect = 15 * time.Second
	}
	if cfg.session <= 0 {
		cfg.session = 10 * time.Second
	}
	if cfg.redisOpt == nil {
		cfg.redisOpt = &redis.Options{Addr: cfg.redisAddr}
	}
	rdb := redis.NewClient(cfg.redisOpt)
	defer func() { _ = rdb.Close() }()
	pctx, cancel := context.WithTimeout(ctx, cfg.connect)
	err := rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return workerStats{}, fmt.Errorf("redis %s unreachable: %w", redisName(cfg.redisOpt), err)
	}
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.brokers...)}, cfg.clientOpts...)...)
	if err != nil {
		return workerStats{}, fmt.Errorf("kafka: %w", err)
	}
	defer admin.Close()
	kctx, cancel := context.WithTimeout(ctx, cfg.connect)
	_, err = kafka.EndOffsets(kctx, admin, cfg.topic)
	cancel()
	if err != nil {
		return workerStats{}, err // a missing topic or unreachable brokers
	}
	store := newPartitionStore(rdb, cfg)
	if cfg.observe != nil {
		cfg.observe(store)
	}
	opts := []kafka.SourceOption{
		kafka.Brokers(cfg.brokers...),
		kafka.ConsumerGroup(cfg.group, cfg.topic),
		kafka.OnPartitions(store),
		kafka.Commit(store),
		kafka.EventTime(func(w wirePlay) time.Time { return w.Play.EventTime }),
		kafka.OutOfOrderness(cfg.events.maxDelay),
		kafka.ClientOptions(append([]kgo.Opt{kgo.SessionTimeout(cfg.session),
			kgo.HeartbeatInterval(min(3*time.Second, cfg.session/5))}, cfg.clientOpts...)...),
	}
	if cfg.instance != "" {
		opts = append(opts, kafka.InstanceID(cfg.instance))
	}
	if cfg.maxPoll > 0 {
		opts = append(opts, kafka.MaxPollRecords(cfg.maxPoll))
	}
	src := kafka.NewSource(decodeWire, opts...)

	p := stream.New(cfg.metrics.pipelineOptions()...)
	msgs := stream.From(p, src, stream.Name("kafka"))
	classified := stream.Process(msgs, store.classify, stream.Name("classify"))
	stream.To(classified.Stream, stream.SinkFunc[partUpdate](store.applyPlay), stream.Name("partition-state"))
	stream.To(classified.DeadLetters(), stream.SinkFunc[stream.DeadLetter[kafka.Message[wirePlay]]](store.applyInvalid),
		stream.Name("invalid"))

	g, gctx := errgroup.WithContext(ctx)
	done := make(chan struct{})
	g.Go(func() error {
		defer close(done)
		return p.Run(gctx)
	})
	g.Go(func() error {
		select {
		case <-stop:
			src.Stop() // publishes every partition (PartitionsRevoked) and ends
		case <-done:
		}
		return nil
	})
	if cfg.idleExit > 0 {
		// Not an idle timeout: a worker with nothing to do may be waiting
		// for a dead worker's partitions. It stops once the state stored
		// in Redis covers the end of every partition, and has for idleExit.
		g.Go(func() error {
			tick := time.NewTicker(min(max(cfg.idleExit/4, 50*time.Millisecond), time.Second))
			defer tick.Stop()
			var since time.Time
			for {
				select {
				case now := <-tick.C:
					cctx, cancel := context.WithTimeout(gctx, cfg.connect)
					cov, err := storedCoverage(cctx, rdb, admin, cfg.prefix, cfg.topic)
					cancel()
					switch {
					case err != nil || len(cov.behind) > 0:
						since = time.Time{}
					case since.IsZero():
						since = now
					case now.Sub(since) >= cfg.idleExit:
						src.Stop()
						return nil
					}
				case <-done:
					return nil
				}
			}
		})
	}
	g.Go(func() error {
		tick := time.NewTicker(cfg.publishEach)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if err := store.publish(gctx, nil); err != nil {
					if gctx.Err() != nil {
						return nil // cancelled: no more publishing, as after a crash
					}
					return err
				}
			case <-done:
				return nil
			}
		}
	})
	err = g.Wait()
	return workerStats{records: store.applied.Load(), invalid: store.rejected.Load()}, err
}

type topicPart struct {
	topic     string
	partition int32
}

// partAgg is the state of one partition this worker owns.
type partAgg struct {
	key         string
	epoch       int64
	next        int64 // next offset: the state covers every record before it
	invalid     int64
	wm          int64 // largest brook-wm applied
	first, last int64 // processing time of the first and last record applied
	windows     map[int64]*windowAgg
	stored      map[int64]bool // windows in Redis (loaded or not)
	late        trackSet
	lateDirty   bool
	dirty       bool // anything changed since the last publish
}

// partitionStore is the worker's per-partition state store: the
// PartitionListener and commit policy of the Kafka source, the sinks that
// apply records, and the publisher to Redis.
type partitionStore struct {
	rdb      *redis.Client
	cfg      workerConfig
	cat      *Catalog
	asg      window.Assigner
	lateness int64
	settings distSettings

	pubMu sync.Mutex // orders publishes (periodic, revoke, stop)

	mu    sync.Mutex // guards parts and everything in them
	parts map[topicPart]*partAgg

	comMu     sync.Mutex
	published map[topicPart]int64 // offset covered by the last successful publish
	committed map[topicPart]int64 // last offset the policy returned

	applied, rejected, skipped atomic.Int64
}

var (
	_ kafka.PartitionListener = (*partitionStore)(nil)
	_ kafka.CommitPolicy      = (*partitionStore)(nil)
)

func newPartitionStore(rdb *redis.Client, cfg workerConfig) *partitionStore {
	return &partitionStore{
		rdb: rdb, cfg: cfg, cat: cfg.cat,
		asg:       window.Tumbling(cfg.events.window),
		lateness:  int64(cfg.events.lateness),
		settings:  newDistSettings(cfg.events, cfg.cat),
		parts:     map[topicPart]*partAgg{},
		published: map[topicPart]int64{},
		committed: map[topicPart]int64{},
	}
}

// closed reports whether a window ending at end is closed at watermark wm.
func (s *partitionStore) closed(end, wm int64) bool { return wm >= satAdd(end-1, s.lateness) }

// PartitionsAssigned loads each new partition's state from Redis (taking
// it over: its epoch fences the previous owner) and starts it at the
// stored offset, or at the log start when nothing is stored.
func (s *partitionStore) PartitionsAssigned(ctx context.Context, start map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, ps := range start {
		for p := range ps {
			pa, err := s.load(ctx, topic, p)
			if err != nil {
				return nil, err
			}
			if pa.next > 0 {
				ps[p] = kgo.NewOffset().At(pa.next)
			} else {
				ps[p] = kgo.NewOffset().AtStart()
			}
			tp := topicPart{topic, p}
			s.mu.Lock()
			s.parts[tp] = pa
			s.mu.Unlock()
			s.comMu.Lock()
			s.published[tp] = pa.next
			s.committed[tp] = -1
			s.comMu.Unlock()
		}
	}
	return start, nil
}

func (s *partitionStore) load(ctx context.Context, topic string, p int32) (*partAgg, error) {
	epoch, fields, err := claimPartition(ctx, s.rdb, s.cfg.prefix, topic, p, s.settings)
	if err != nil {
		return nil, err
	}
	key := partitionKey(s.cfg.prefix, topic, p)
	sp, err := parsePartition(s.cat, s.asg, key, fields, nil)
	if err != nil {
		return nil, err
	}
	pa := &partAgg{key: key, epoch: epoch, next: sp.offset, invalid: sp.invalid, wm: sp.wm,
		first: sp.first, last: sp.last, late: sp.late,
		windows: map[int64]*windowAgg{}, stored: map[int64]bool{}}
	for _, start := range sp.windowStarts {
		pa.stored[start] = true
	}
	for _, w := range sp.windows {
		if !s.closed(w.end, pa.wm) { // closed windows stay in Redis only
			pa.windows[w.start] = w
		}
	}
	return pa, nil
}

// PartitionsRevoked publishes the partitions' state (every record they
// delivered has been applied: the sinks run inside the source's Emit) and
// forgets them.
func (s *partitionStore) PartitionsRevoked(ctx context.Context, revoked map[string][]int32) error {
	only := map[topicPart]bool{}
	for topic, ps := range revoked {
		for _, p := range ps {
			only[topicPart{topic, p}] = true
		}
	}
	err := s.publish(ctx, only)
	s.mu.Lock()
	for tp := range only {
		delete(s.parts, tp)
	}
	s.mu.Unlock()
	return err
}

// PartitionsLost forgets the partitions without publishing: another worker
// may own them already (and the epoch would refuse the write anyway).
func (s *partitionStore) PartitionsLost(_ context.Context, lost map[string][]int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range lost {
		for _, p := range ps {
			delete(s.parts, topicPart{topic, p})
		}
	}
	return nil
}

// Commit implements kafka.CommitPolicy: the group's committed offsets
// follow what has been published to Redis (they are for monitoring
// consumer lag; a worker resumes from the offset stored with the state).
func (s *partitionStore) Commit(_ time.Time, _ kafka.CommitReason, handed kafka.Offsets) kafka.Offsets {
	s.comMu.Lock()
	defer s.comMu.Unlock()
	out := kafka.Offsets{}
	for topic, ps := range handed {
		for p, eo := range ps {
			tp := topicPart{topic, p}
			off := min(s.published[tp], eo.Offset)
			if off <= 0 || off <= s.committed[tp] {
				continue
			}
			s.committed[tp] = off
			if out[topic] == nil {
				out[topic] = map[int32]kgo.EpochOffset{}
			}
			out[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	return out
}

// partUpdate is a valid play, classified.
type partUpdate struct {
	topic      string
	partition  int32
	offset     int64
	wm         int64
	track      int
	start, end int64 // its tumbling window
	late       bool
	play       Play
}

// classify enriches a record with the catalog and decides its window and
// lateness from the producer's watermark stamp; undecodable records and
// unknown tracks go to the dead letters.
func (s *partitionStore) classify(ctx *stream.Context, r stream.Record[kafka.Message[wirePlay]], out stream.Emitter[partUpdate]) error {
	m := &r.Value
	if m.Err != nil {
		return stream.Reject(m.Err)
	}
	p := &m.Value.Play
	ti, ok := s.cat.Index(p.TrackID)
	if !ok {
		return stream.Reject(CheckTrack(s.cat, *p))
	}
	spans := s.asg.Windows(timeNs(p.EventTime.UnixNano()))
	if len(spans) != 1 {
		return fmt.Errorf("classify: %d windows for %v", len(spans), p.EventTime)
	}
	u := partUpdate{topic: m.Topic, partition: m.Partition, offset: m.Offset, wm: m.Value.WM, track: ti,
		start: int64(spans[0].Start), end: int64(spans[0].End), play: *p}
	u.late = s.closed(u.end, u.wm)
	if u.late {
		ctx.CountLate(1)
	}
	return out.Emit(stream.Record[partUpdate]{Time: r.Time, Value: u})
}

// owned returns the state of the record's partition, or nil to skip the
// record: one the state already covers (below its offset), or one of a
// partition this worker has lost (its new owner applies it).
func (s *partitionStore) owned(topic string, partition int32, offset int64) *partAgg {
	pa := s.parts[topicPart{topic, partition}]
	if pa == nil || offset < pa.next {
		s.skipped.Add(1)
		return nil
	}
	pa.next = offset + 1
	now := time.Now().UnixNano()
	if pa.first == 0 {
		pa.first = now
	}
	pa.last = now
	pa.dirty = true
	return pa
}

// applyPlay adds a valid play to its partition's state.
func (s *partitionStore) applyPlay(ctx context.Context, r stream.Record[partUpdate]) error {
	u := &r.Value
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.owned(u.topic, u.partition, u.offset)
	if pa == nil {
		return nil
	}
	pa.wm = max(pa.wm, u.wm)
	dur := s.cat.Track(u.track).DurationMs
	if u.late {
		pa.late.at(u.track).Add(u.play, dur)
		pa.lateDirty = true
	} else {
		w := pa.windows[u.start]
		if w == nil {
			var err error
			if w, err = s.openWindow(ctx, pa, u.start, u.end); err != nil {
				return err
			}
		}
		w.tracks.at(u.track).Add(u.play, dur)
		w.dirty = true
	}
	s.applied.Add(1)
	return nil
}

// openWindow returns a new window's state: empty, or read back from Redis
// if it is stored there (a window evicted from memory, or not loaded,
// receives on-time plays again only if the topic holds plays of more than
// one produce run; its stored figures must not be overwritten).
func (s *partitionStore) openWindow(ctx context.Context, pa *partAgg, start, end int64) (*windowAgg, error) {
	w := &windowAgg{start: start, end: end, tracks: newTrackSet(s.cat)}
	if pa.stored[start] {
		v, err := s.rdb.HGet(ctx, pa.key, windowFieldName(start)).Result()
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", pa.key, windowFieldName(start), err)
		}
		if w, err = decodeWindow(s.cat, s.asg, []byte(v), pa.key+" "+windowFieldName(start)); err != nil {
			return nil, err
		}
	}
	pa.windows[start] = w
	return w, nil
}

// applyInvalid counts a rejected record in its partition's state.
func (s *partitionStore) applyInvalid(_ context.Context, r stream.Record[stream.DeadLetter[kafka.Message[wirePlay]]]) error {
	m := &r.Value.Record.Value
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.owned(m.Topic, m.Partition, m.Offset)
	if pa == nil {
		return nil
	}
	pa.invalid++
	s.rejected.Add(1)
	s.applied.Add(1)
	return nil
}

// publishJob is one partition's changes, encoded under the lock and
// written after it.
type publishJob struct {
	tp     topicPart
	key    string
	epoch  int64
	next   int64
	fields []any
}

// publish writes the changed state of the owned partitions (of only, if
// not nil) to Redis, each partition's fields and offset atomically, then
// lets closed windows go from memory.
func (s *partitionStore) publish(ctx context.Context, only map[topicPart]bool) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	jobs, err := s.collect(only)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := publishPartition(ctx, s.rdb, j.key, j.epoch, j.fields); err != nil {
			return err
		}
		s.comMu.Lock()
		s.published[j.tp] = j.next
		s.comMu.Unlock()
	}
	// Closed windows are in Redis now and can take no more on-time plays.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		pa := s.parts[j.tp]
		if pa == nil || pa.epoch != j.epoch {
			continue
		}
		for start, w := range pa.windows {
			if !w.dirty && s.closed(w.end, pa.wm) {
				delete(pa.windows, start)
			}
		}
	}
	return nil
}

// collect encodes the changes of the dirty partitions and marks them clean.
func (s *partitionStore) collect(only map[topicPart]bool) ([]publishJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tps := make([]topicPart, 0, len(s.parts))
	for tp, pa := range s.parts {
		if pa.dirty && (only == nil || only[tp]) {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, func(a, b topicPart) int { return int(a.partition - b.partition) })
	jobs := make([]publishJob, 0, len(tps))
	for _, tp := range tps {
		pa := s.parts[tp]
		j := publishJob{tp: tp, key: pa.key, epoch: pa.epoch, next: pa.next}
		num := func(name string, v int64) { j.fields = append(j.fields, name, strconv.FormatInt(v, 10)) }
		num(fieldOffset, pa.next)
		num(fieldInvalid, pa.invalid)
		num(fieldWM, pa.wm)
		num(fieldFirst, pa.first)
		num(fieldLast, pa.last)
		if pa.lateDirty {
			b, err := encodeTrackSet(s.cat, pa.late)
			if err != nil {
				return nil, err
			}
			j.fields = append(j.fields, fieldLate, b)
		}
		for start, w := range pa.windows {
			if !w.dirty {
				continue
			}
			b, err := encodeWindow(s.cat, w)
			if err != nil {
				return nil, err
			}
			j.fields = append(j.fields, windowFieldName(start), b)
		}
		jobs = append(jobs, j)
	}
	// Marked clean only once everything encoded: a failure publishes
	// nothing and fails the worker.
	for _, tp := range tps {
		pa := s.parts[tp]
		pa.dirty, pa.lateDirty = false, false
		for start, w := range pa.windows {
			if w.dirty {
				w.dirty = false
				pa.stored[start] = true
			}
		}
	}
	return jobs, nil
}
