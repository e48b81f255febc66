package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
)

var (
	// ErrAlreadyRun is returned by Run on a Source that has run before.
	ErrAlreadyRun = errors.New("kafka: source already run")
	// ErrCommit wraps a failed offset commit that fails the run.
	ErrCommit = errors.New("kafka: commit failed")
)

// Message is one consumed Kafka record: the decoded value, or the reason it
// could not be decoded. [Decode] turns a stream of Messages into a stream of
// values and a dead-letter stream.
type Message[T any] struct {
	Topic     string
	Partition int32
	Offset    int64
	// Value is the decoded value (the zero value when Err is set).
	Value T
	// Err is why the record was not decoded: a *[DecodeError]. Nil for a
	// good record.
	Err error
	// Record is the raw record when Err is set (nil otherwise), for a
	// dead-letter topic or a log.
	Record *kgo.Record
}

// DecodeError is the reason a record became a dead letter.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error // the decoder's error
}

// Error reports where the record is and the cause.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("kafka: decode %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Source is a [stream.Source] of the records of Kafka partitions, consumed
// in a consumer group ([ConsumerGroup]) or from fixed partitions
// ([Partitions]). It emits a [Message] per record, carrying the decoded
// value or the decoding error; use [Decode] to split them. See the package
// documentation for its watermarks and its delivery guarantee.
//
// A Source creates its Kafka client when it runs and closes it before Run
// returns. It runs once: a second Run returns [ErrAlreadyRun].
type Source[T any] struct {
	decode func(*kgo.Record) (T, error)
	cfg    sourceConfig
	clock  stream.Clock // from Open, unless the Clock option set one
	ran    atomic.Bool
	owned  atomic.Pointer[map[string][]int32] // what Assigned reports

	stopReq atomic.Bool
	running atomic.Pointer[func()] // wakes the running consumer's poll

	// checkpoints (see checkpoint.go)
	restored     map[topicPartition]kgo.EpochOffset // from Restore, before Run
	checkpointed atomic.Bool                        // Restore or Snapshot was called
	cur          *consumer[T]                       // the running consumer, for Snapshot (source goroutine)
	ckMu         sync.Mutex
	pending      []Offsets // positions of snapshots whose checkpoint is not complete, oldest first
	clMu         sync.Mutex
	cl           *kgo.Client // the running client, for CheckpointComplete; nil otherwise
	kept         bool        // Run has returned, cl stays open until Close
	emitting     bool        // the source goroutine is inside emitAll, holding cur.mu
}

// closeClient closes the client of the run (once).
func (s *Source[T]) closeClient() {
	s.clMu.Lock()
	cl := s.cl
	s.cl, s.kept = nil, false
	s.clMu.Unlock()
	if cl != nil {
		cl.CloseAllowingRebalance()
	}
	s.owned.Store(nil)
}

// Close implements [stream.Closer]: it closes the client a cleanly ended
// consumer-group source with [CommitOnCheckpoint] keeps open after Run, so
// the pipeline's final checkpoint can commit its offsets (the runtime calls
// Close after that). Otherwise Run has closed the client already.
func (s *Source[T]) Close() error {
	s.closeClient()
	return nil
}

// Stop asks the running source to stop the pipeline gracefully: at its next
// wake-up (at once if it is waiting for records) Run returns
// [stream.ErrStopped], which stops the whole pipeline with a savepoint
// ([stream.Pipeline.Stop]): in a pipeline with checkpoints no window fires
// early, the final checkpoint records every position and commits it to the
// group (with [CommitOnCheckpoint]), and the next run resumes as if never
// stopped. Without checkpoints the pipeline drains instead (its windows
// fire), and the source commits what it handed downstream as its commit
// policy says, as ExitWhenIdle does. Cancelling Run's context instead stops
// at once and commits nothing more. Stop is safe to call from any goroutine,
// more than once, and before Run (Run then ends at once).
func (s *Source[T]) Stop() {
	s.stopReq.Store(true)
	if wake := s.running.Load(); wake != nil {
		(*wake)()
	}
}

var (
	_ stream.Source[Message[int]] = (*Source[int])(nil)
	_ stream.Opener               = (*Source[int])(nil)
	_ stream.Closer               = (*Source[int])(nil)
)

// NewSource returns a Source decoding records with decode. It needs
// [Brokers] and one of [ConsumerGroup] or [Partitions].
func NewSource[T any](decode func(*kgo.Record) (T, error), opts ...SourceOption) *Source[T] {
	s := &Source[T]{decode: decode, cfg: sourceConfig{
		idleTimeout: 10 * time.Second,
		maxPoll:     5000,
		policy:      CommitInterval(5 * time.Second),
	}}
	for _, o := range opts {
		if o != nil {
			o.applySource(&s.cfg)
		}
	}
	return s
}

// Assigned returns the partitions the running source owns, by topic, in no
// particular order (nil when it is not running). It is safe to call at any
// time, from any goroutine.
func (s *Source[T]) Assigned() map[string][]int32 {
	m := s.owned.Load()
	if m == nil {
		return nil
	}
	out := make(map[string][]int32, len(*m))
	for t, ps := range *m {
		out[t] = append([]int32(nil), ps...)
	}
	return out
}

// publishLocked updates what Assigned reports.
func (c *consumer[T]) publishLocked() {
	m := map[string][]int32{}
	for tp := range c.parts {
		m[tp.topic] = append(m[tp.topic], tp.partition)
	}
	c.s.owned.Store(&m)
}

// Open takes the pipeline's clock.
func (s *Source[T]) Open(c *stream.Context) error {
	s.clock = c.Clock()
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// partState is what the source knows of one partition it owns.
type partState struct {
	handed    kgo.EpochOffset // one past the last record emitted (Offset -1: none)
	flushed   kgo.EpochOffset // handed as of the last Flush that returned
	committed int64           // last offset committed (-1: none)
	maxTime   stream.Time     // largest event time of a good record (MinTime: none)
	carried   stream.Time     // with CarryWatermarks: the largest watermark read (MinTime: none)
	lastSeen  time.Time       // last record, or assignment
	idle      bool
}

func newPartState(now time.Time) *partState {
	return &partState{
		handed:    kgo.EpochOffset{Epoch: -1, Offset: -1},
		flushed:   kgo.EpochOffset{Epoch: -1, Offset: -1},
		committed: -1, maxTime: stream.MinTime, carried: stream.MinTime, lastSeen: now,
	}
}

// consumer is the state of one Run.
type consumer[T any] struct {
	s      *Source[T]
	timeOf func(T) time.Time
	clock  stream.Clock
	group  bool
	out    stream.SourceOutput[Message[T]]
	cl     *kgo.Client // for the source's goroutine

	wakeMu sync.Mutex
	wake   context.CancelFunc // cancels the current poll

	cbMu sync.Mutex // serializes the PartitionListener's calls

	mu    sync.Mutex // guards everything below (rebalance callbacks)
	parts map[topicPartition]*partState
	// pos holds the positions of partitions the source handed records of,
	// or restored from a checkpoint, that are not in parts (any more):
	// with parts' handed positions, what a checkpoint records.
	pos        map[topicPartition]kgo.EpochOffset
	stopping   bool  // no more commits from callbacks
	cbErr      error // a fatal commit error in a callback
	lastRecord time.Time
	outIdle    bool
	emittedWM  stream.Time // the last watermark emitted (MinTime: none)
}

// Run consumes until ctx is cancelled (it returns ctx.Err()), the source has
// been idle for the [ExitWhenIdle] duration or [Source.Stop] is called (it
// returns nil), or it fails.
func (s *Source[T]) Run(ctx context.Context, out stream.SourceOutput[Message[T]]) (err error) {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	c, opts, err := s.prepare(ctx, out)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: client: %w", err)
	}
	c.cl = cl // before any poll; callbacks use the client they are given
	s.cur = c
	s.clMu.Lock()
	s.cl = cl
	s.clMu.Unlock()
	wake := c.wakeUp
	s.running.Store(&wake)
	defer func() {
		s.running.Store(nil)
		// A clean end: the input ended (ExitWhenIdle), Stop was called, or
		// the pipeline stops gracefully (it cancels our context with
		// stream.ErrStopped as the cause).
		clean := err == nil || errors.Is(err, stream.ErrStopped) ||
			(ctx.Err() != nil && errors.Is(context.Cause(ctx), stream.ErrStopped))
		if !clean {
			c.markStopping() // a failure: no more listener calls or commits
		} else {
			bg := context.WithoutCancel(ctx)
			cerr := c.revokeAtEnd(bg)
			if cerr == nil && c.group {
				cerr = c.commit(bg, cl, Stopped, nil)
			}
			if cerr != nil {
				err = cerr
				clean = false
			}
		}
		c.markStopping()
		if err == nil || clean {
			c.mu.Lock()
			if c.cbErr != nil {
				err, clean = c.cbErr, false
			}
			c.mu.Unlock()
		}
		if clean && c.group && isCheckpointPolicy(s.cfg.policy) {
			// The final checkpoint's CheckpointComplete commits through
			// the client and the partitions still owned: Close closes it.
			s.clMu.Lock()
			s.kept = true
			s.clMu.Unlock()
			return
		}
		s.closeClient()
	}()
	return c.loop(ctx, cl)
}

// prepare checks the configuration and builds the client options.
func (s *Source[T]) prepare(ctx context.Context, out stream.SourceOutput[Message[T]]) (*consumer[T], []kgo.Opt, error) {
	cfg := &s.cfg
	switch {
	case s.decode == nil:
		return nil, nil, fmt.Errorf("%w: kafka: nil decoder", stream.ErrInvalid)
	case len(cfg.brokers) == 0:
		return nil, nil, fmt.Errorf("%w: kafka: no brokers", stream.ErrInvalid)
	case (cfg.group == "") == (len(cfg.partitions) == 0):
		return nil, nil, fmt.Errorf("%w: kafka: a source needs either ConsumerGroup or Partitions", stream.ErrInvalid)
	case cfg.group != "" && len(cfg.topics) == 0:
		return nil, nil, fmt.Errorf("%w: kafka: consumer group %q without topics", stream.ErrInvalid, cfg.group)
	}
	c := &consumer[T]{s: s, out: out, group: cfg.group != "", parts: map[topicPartition]*partState{}, emittedWM: stream.MinTime,
		pos: make(map[topicPartition]kgo.EpochOffset, len(s.restored))}
	for tp, eo := range s.restored {
		c.pos[tp] = eo
	}
	if cfg.eventTime != nil {
		fn, ok := cfg.eventTime.(func(T) time.Time)
		if !ok {
			return nil, nil, fmt.Errorf("%w: kafka: EventTime takes a %T, want a func(%T) time.Time", stream.ErrInvalid, cfg.eventTime, *new(T))
		}
		c.timeOf = fn
	}
	c.clock = cfg.clock
	if c.clock == nil {
		c.clock = s.clock
	}
	if c.clock == nil {
		c.clock = stream.SystemClock{}
	}
	now := c.clock.Now()
	c.lastRecord = now
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.brokers...)}
	if w, ok := fetchMaxWait(cfg); ok {
		opts = append(opts, kgo.FetchMaxWait(w)) // before the user's: theirs win
	}
	opts = append(opts, cfg.clientOpts...)
	if c.group {
		opts = append(opts,
			kgo.ConsumerGroup(cfg.group),
			kgo.ConsumeTopics(cfg.topics...),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsAssigned(c.onAssigned),
			kgo.OnPartitionsRevoked(c.onRevoked),
			kgo.OnPartitionsLost(c.onLost),
			kgo.AdjustFetchOffsetsFn(c.adjust),
		)
		if cfg.instanceID != "" {
			opts = append(opts, kgo.InstanceID(cfg.instanceID))
		}
	} else {
		start := make(map[string]map[int32]kgo.Offset, len(cfg.partitions))
		for topic, ps := range cfg.partitions {
			m := make(map[int32]kgo.Offset, len(ps))
			for p, o := range ps {
				c.parts[topicPartition{topic, p}] = newPartState(now)
				if eo, ok := c.pos[topicPartition{topic, p}]; ok {
					o = kgo.NewOffset().At(eo.Offset) // resume a restored checkpoint
				}
				m[p] = o
			}
			start[topic] = m
		}
		if l := cfg.listener; l != nil {
			var err error
			if start, err = l.PartitionsAssigned(ctx, start); err != nil {
				return nil, nil, fmt.Errorf("kafka: partitions assigned: %w", err)
			}
		}
		opts = append(opts, kgo.ConsumePartitions(start))
	}
	c.publishLocked()
	return c, opts, nil
}

// defaultFetchMaxWait is kgo's FetchMaxWait default.
const defaultFetchMaxWait = 5 * time.Second

// fetchMaxWait returns the longest time a fetch may wait at the broker for
// records, when the source's idle durations call for less than kgo's
// default. A fetch in flight holds back the partitions the client adds to
// the consumption meanwhile (those starting at a listed offset, such as
// AtStart, join the next fetch): the records of a partition behind a
// caught-up one arrive only when the long poll returns. A source that
// declared itself idle or ended ([ExitWhenIdle]) within that wait would
// skip records that are there, so the wait is a quarter of the shortest
// idle duration.
func fetchMaxWait(cfg *sourceConfig) (time.Duration, bool) {
	idle := cfg.exitWhenIdle
	if cfg.idleTimeout > 0 && (idle == 0 || cfg.idleTimeout < idle) {
		idle = cfg.idleTimeout
	}
	w := idle / 4
	if idle == 0 || w >= defaultFetchMaxWait {
		return 0, false
	}
	return max(w, minFetchMaxWait), true
}

// minFetchMaxWait is the least FetchMaxWait kgo accepts.
const minFetchMaxWait = 10 * time.Millisecond

func (c *consumer[T]) loop(ctx context.Context, cl *kgo.Client) error {
	for {
		if c.s.stopReq.Load() {
			return stream.ErrStopped
		}
		pollCtx, cancel := context.WithCancel(ctx)
		c.wakeMu.Lock()
		c.wake = cancel
		c.wakeMu.Unlock()
		if c.s.stopReq.Load() { // Stop may have missed the new wake
			cancel()
		}
		c.mu.Lock()
		at, ok := c.nextWakeLocked(c.clock.Now())
		c.mu.Unlock()
		stop := func() bool { return false }
		if ok {
			// An absolute deadline: a clock that moves between the reading
			// above and this registration must not make the wake late.
			stop = stream.AfterFuncAt(c.clock, at, cancel)
		}
		// Parked while polling: checkpoint barriers pass meanwhile.
		var fetches kgo.Fetches
		if err := c.out.Await(func() error {
			fetches = cl.PollRecords(pollCtx, c.s.cfg.maxPoll)
			return nil
		}); err != nil {
			stop()
			cancel()
			c.markStopping()
			cl.AllowRebalance()
			return err
		}
		stop()
		cancel()
		if err := ctx.Err(); err != nil {
			c.markStopping()
			cl.AllowRebalance()
			return err
		}
		if err := c.handle(ctx, fetches); err != nil {
			c.markStopping()
			cl.AllowRebalance()
			return err
		}
		cl.AllowRebalance()
		c.mu.Lock()
		err := c.cbErr
		exit := c.s.cfg.exitWhenIdle > 0 && !c.clock.Now().Before(c.lastRecord.Add(c.s.cfg.exitWhenIdle))
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if exit {
			return nil
		}
	}
}

// nextWakeLocked returns until when the poll may block: the time the next
// partition would turn idle, the idle exit, or the commit tick.
func (c *consumer[T]) nextWakeLocked(now time.Time) (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	cfg := &c.s.cfg
	uncommitted := false
	for _, st := range c.parts {
		if cfg.idleTimeout > 0 && !st.idle {
			consider(st.lastSeen.Add(cfg.idleTimeout))
		}
		if st.flushed.Offset >= 0 && st.flushed.Offset != st.committed {
			uncommitted = true
		}
	}
	if cfg.exitWhenIdle > 0 {
		consider(c.lastRecord.Add(cfg.exitWhenIdle))
	}
	if uncommitted && c.group && !isCheckpointPolicy(cfg.policy) {
		consider(now.Add(time.Second))
	}
	return next, !next.IsZero()
}

// handle emits the records of one poll, then the watermark, flushes, and
// commits what the policy allows. Rebalances are blocked meanwhile (unless
// the poll was empty).
func (c *consumer[T]) handle(ctx context.Context, fetches kgo.Fetches) error {
	emitted, err := c.emitAll(fetches)
	if err != nil || !c.group {
		return err
	}
	reason := Tick
	if emitted {
		reason = Flushed
	}
	if err := c.commit(ctx, c.cl, reason, nil); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

func (c *consumer[T]) emitAll(fetches kgo.Fetches) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.emitting = true // Snapshot, called inside out.Emit, must not lock c.mu
	defer func() { c.s.emitting = false }()
	now := c.clock.Now()
	emitted := false
	for i := range fetches {
		for j := range fetches[i].Topics {
			ft := &fetches[i].Topics[j]
			for k := range ft.Partitions {
				fp := &ft.Partitions[k]
				if fp.Err != nil {
					if errors.Is(fp.Err, context.Canceled) || errors.Is(fp.Err, context.DeadlineExceeded) {
						continue // our own wake-up
					}
					return false, fmt.Errorf("kafka: fetch %s/%d: %w", ft.Topic, fp.Partition, fp.Err)
				}
				if len(fp.Records) == 0 {
					continue
				}
				tp := topicPartition{ft.Topic, fp.Partition}
				st := c.parts[tp]
				if st == nil {
					st = newPartState(now)
					c.parts[tp] = st
					c.publishLocked()
				}
				st.lastSeen, st.idle = now, false
				c.lastRecord = now
				if err := c.emit(st, fp.Records); err != nil {
					return false, err
				}
				emitted = true
			}
		}
	}
	if err := c.watermarkLocked(now); err != nil {
		return false, err
	}
	if emitted {
		if err := c.out.Flush(); err != nil {
			return false, err
		}
		for _, st := range c.parts {
			st.flushed = st.handed
		}
	}
	return emitted, nil
}

func (c *consumer[T]) emit(st *partState, recs []*kgo.Record) error {
	carry := c.s.cfg.carry
	for _, r := range recs {
		var (
			v   T
			err error
		)
		if carry {
			w, only, ok := recordWatermark(r)
			if !ok {
				err = ErrNoWatermark
			} else if w > st.carried {
				st.carried = w
				if err := c.carriedWatermarkLocked(); err != nil {
					return err
				}
			}
			if only {
				st.handed = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
				continue
			}
		}
		if err == nil {
			v, err = c.s.decode(r)
		}
		msg := Message[T]{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: v}
		t := stream.TimeOf(r.Timestamp)
		if err != nil {
			var zero T
			msg.Value = zero
			msg.Err = &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
			msg.Record = r
		} else {
			if c.timeOf != nil {
				t = stream.TimeOf(c.timeOf(v))
			}
			if t > st.maxTime {
				st.maxTime = t
			}
		}
		// Consumed before Emit, which may snapshot the source (checkpoint).
		st.handed = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		if err := c.out.Emit(stream.Record[Message[T]]{Time: t, Value: msg}); err != nil {
			return err
		}
	}
	return nil
}

// watermarkLocked marks partitions idle and emits the minimum watermark of
// the active ones, or marks the output idle when none is active.
func (c *consumer[T]) watermarkLocked(now time.Time) error {
	cfg := &c.s.cfg
	for _, st := range c.parts {
		if cfg.idleTimeout > 0 && !st.idle && !now.Before(st.lastSeen.Add(cfg.idleTimeout)) {
			st.idle = true
		}
	}
	min, active := c.minWatermarkLocked()
	if !active {
		if c.outIdle {
			return nil
		}
		c.outIdle = true
		return c.out.MarkIdle()
	}
	return c.emitWatermarkLocked(min)
}

// minWatermarkLocked returns the minimum watermark of the active
// partitions, and whether there is one.
func (c *consumer[T]) minWatermarkLocked() (stream.Time, bool) {
	cfg := &c.s.cfg
	min, active := stream.MaxTime, false
	for _, st := range c.parts {
		if st.idle {
			continue
		}
		active = true
		w := st.carried
		if !cfg.carry {
			w = stream.MinTime
			if st.maxTime > stream.MinTime {
				w = st.maxTime.Add(-cfg.outOfOrderness - 1)
			}
		}
		if w < min {
			min = w
		}
	}
	return min, active
}

// emitWatermarkLocked emits w unless it is not above the last one.
func (c *consumer[T]) emitWatermarkLocked(w stream.Time) error {
	if w == stream.MinTime || (w <= c.emittedWM && !c.outIdle) {
		return nil
	}
	c.outIdle = false
	if w > c.emittedWM {
		c.emittedWM = w
	}
	return c.out.EmitWatermark(w)
}

// carriedWatermarkLocked emits, before the record that carried a higher
// watermark, the new minimum over the active partitions, if it has grown.
func (c *consumer[T]) carriedWatermarkLocked() error {
	min, active := c.minWatermarkLocked()
	if !active {
		return nil
	}
	return c.emitWatermarkLocked(min)
}

// commit offers the policy the flushed positions not yet committed (of the
// partitions in only, if set) and commits what it returns. It must not be
// called with c.mu held: the client may be in a rebalance that waits for a
// callback that takes c.mu. A commit refused because the group is
// rebalancing is not fatal: those partitions' records are then delivered
// again to their next owner.
func (c *consumer[T]) commit(ctx context.Context, cl *kgo.Client, reason CommitReason, only map[topicPartition]bool) error {
	c.mu.Lock()
	offsets := c.planLocked(reason, only)
	c.mu.Unlock()
	return c.commitOffsets(ctx, cl, reason, offsets)
}

// planLocked asks the policy what to commit.
func (c *consumer[T]) planLocked(reason CommitReason, only map[topicPartition]bool) Offsets {
	handed := Offsets{}
	for tp, st := range c.parts {
		if only != nil && !only[tp] {
			continue
		}
		if st.flushed.Offset >= 0 && st.flushed.Offset != st.committed {
			handed.set(tp.topic, tp.partition, st.flushed)
		}
	}
	if len(handed) == 0 {
		return nil
	}
	return c.s.cfg.policy.Commit(c.clock.Now(), reason, handed)
}

func (c *consumer[T]) commitOffsets(ctx context.Context, cl *kgo.Client, reason CommitReason, offsets Offsets) error {
	if len(offsets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if cerr == nil {
						cerr = err
					}
					continue
				}
				if st := c.parts[topicPartition{t.Topic, p.Partition}]; st != nil {
					if eo, ok := offsets[t.Topic][p.Partition]; ok && eo.Offset > st.committed {
						st.committed = eo.Offset
					}
				}
			}
		}
	})
	if cerr == nil || rebalancing(cerr) || transient(ctx, cerr) {
		return nil // the positions stay uncommitted: the next commit retries them
	}
	return fmt.Errorf("%w (%s): %w", ErrCommit, reason, cerr)
}

// rebalancing reports whether a commit failed only because the group is
// changing hands: not fatal, the next owner re-reads from the last commit.
func rebalancing(err error) bool {
	return errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedMemberEpoch) ||
		errors.Is(err, kerr.StaleMemberEpoch)
}

// transient reports whether a commit failed only for now: it timed out
// (the group coordinator is slow or moving, often in a rebalance) or the
// coordinator is unavailable or moving. Not fatal: a later commit covers
// the same positions, and until then a new owner re-reads a little.
func transient(ctx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return ctx.Err() == nil || errors.Is(context.Cause(ctx), context.DeadlineExceeded)
	}
	return errors.Is(err, kerr.RequestTimedOut) || errors.Is(err, kerr.CoordinatorNotAvailable) ||
		errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress)
}

func (c *consumer[T]) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for topic, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if c.parts[tp] == nil {
				c.parts[tp] = newPartState(now)
			}
		}
	}
	c.publishLocked()
	c.wakeUp()
}

// onRevoked commits the revoked partitions' positions (as the policy
// allows) and forgets them. Rebalances are blocked while the source hands
// records downstream, so every record polled from them has been emitted and
// flushed by now, and no later poll returns records of theirs.
func (c *consumer[T]) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	only := map[topicPartition]bool{}
	for topic, ps := range revoked {
		for _, p := range ps {
			only[topicPartition{topic, p}] = true
		}
	}
	if err := c.tellRevoked(ctx, revoked); err != nil {
		c.fail(err)
	}
	c.mu.Lock()
	var offsets Offsets
	if !c.stopping && c.cbErr == nil {
		offsets = c.planLocked(Revoked, only)
	}
	c.mu.Unlock()
	err := c.commitOffsets(ctx, cl, Revoked, offsets)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && c.cbErr == nil {
		c.cbErr = err
	}
	for tp := range only {
		c.forgetLocked(tp)
	}
	c.publishLocked()
	c.wakeUp()
}

// onLost forgets partitions taken away without a chance to commit.
func (c *consumer[T]) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	if l := c.s.cfg.listener; l != nil && !c.isStopping() {
		c.cbMu.Lock()
		err := l.PartitionsLost(ctx, lost)
		c.cbMu.Unlock()
		if err != nil {
			c.fail(fmt.Errorf("kafka: partitions lost: %w", err))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range lost {
		for _, p := range ps {
			c.forgetLocked(topicPartition{topic, p})
		}
	}
	c.publishLocked()
	c.wakeUp()
}

// forgetLocked drops a partition leaving the source, keeping its position
// for checkpoints.
func (c *consumer[T]) forgetLocked(tp topicPartition) {
	if st := c.parts[tp]; st != nil && st.handed.Offset >= 0 {
		c.pos[tp] = st.handed
	}
	delete(c.parts, tp)
}

// markStopping makes the callbacks call no listener and commit nothing.
func (c *consumer[T]) markStopping() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
}

func (c *consumer[T]) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping || c.cbErr != nil
}

// fail records a fatal error from a callback and wakes the poll, so the
// loop returns it.
func (c *consumer[T]) fail(err error) {
	c.mu.Lock()
	if c.cbErr == nil {
		c.cbErr = err
	}
	c.mu.Unlock()
	c.wakeUp()
}

// tellRevoked calls the listener's PartitionsRevoked, unless the source is
// stopping or has failed.
func (c *consumer[T]) tellRevoked(ctx context.Context, revoked map[string][]int32) error {
	l := c.s.cfg.listener
	if l == nil || len(revoked) == 0 || c.isStopping() {
		return nil
	}
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	if err := l.PartitionsRevoked(ctx, revoked); err != nil {
		return fmt.Errorf("kafka: partitions revoked: %w", err)
	}
	return nil
}

// revokeAtEnd tells the listener, at a normal end, that every partition
// the source still owns leaves it.
func (c *consumer[T]) revokeAtEnd(ctx context.Context) error {
	if c.s.cfg.listener == nil {
		return nil
	}
	c.mu.Lock()
	owned := map[string][]int32{}
	for tp := range c.parts {
		owned[tp.topic] = append(owned[tp.topic], tp.partition)
	}
	c.mu.Unlock()
	return c.tellRevoked(ctx, owned)
}

// adjust is the group client's AdjustFetchOffsetsFn: newly assigned
// partitions resume where a checkpointed source left them (its restored or
// last handed position), then the listener may move them.
func (c *consumer[T]) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	c.mu.Lock()
	if c.stopping || c.cbErr != nil {
		c.mu.Unlock()
		return offsets, nil
	}
	if c.s.checkpointed.Load() {
		for topic, ps := range offsets {
			for p := range ps {
				if eo, ok := c.pos[topicPartition{topic, p}]; ok {
					ps[p] = kgo.NewOffset().At(eo.Offset)
				}
			}
		}
	}
	c.mu.Unlock()
	l := c.s.cfg.listener
	if l == nil {
		return offsets, nil
	}
	c.cbMu.Lock()
	out, err := l.PartitionsAssigned(ctx, offsets)
	c.cbMu.Unlock()
	if err != nil {
		err = fmt.Errorf("kafka: partitions assigned: %w", err)
		c.fail(err)
		return nil, err
	}
	return out, nil
}

// wakeUp makes the current poll return, so the watermark is recomputed
// for the new set of partitions, or a Stop is seen.
func (c *consumer[T]) wakeUp() {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	if c.wake != nil {
		c.wake()
	}
}

// Decode splits a stream of Messages into the decoded values, at their
// records' times, and the dead letters of the records that could not be
// decoded (see [stream.Processed.DeadLetters]; each dead letter's Err is a
// *[DecodeError] and its Record.Value the Message with the raw record). If
// nothing consumes the dead letters, a bad record fails the run.
func Decode[T any](msgs stream.Stream[Message[T]]) stream.Processed[Message[T], T] {
	return stream.Process(msgs, func(_ *stream.Context, r stream.Record[Message[T]], out stream.Emitter[T]) error {
		if r.Value.Err != nil {
			return stream.Reject(r.Value.Err)
		}
		return out.Emit(stream.Record[T]{Time: r.Time, Value: r.Value.Value})
	}, stream.Name("kafka.decode"))
}
