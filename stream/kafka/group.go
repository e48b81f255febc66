package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/brook-streams/brook/stream"
)

var (
	// ErrNoTopic is wrapped by the error of a [Group] whose topic does not
	// exist.
	ErrNoTopic = errors.New("kafka: topic does not exist")
	// ErrUnreachable is wrapped by the error of a [Group] that could not
	// reach its brokers within its [ConnectTimeout].
	ErrUnreachable = errors.New("kafka: brokers unreachable")
	// ErrNotCoPartitioned is wrapped by the error of a [Group] task that
	// read a record whose pipeline key ([CoPartitioned]) belongs to another
	// partition.
	ErrNotCoPartitioned = errors.New("kafka: input not partitioned by the pipeline's key")
)

// Task is one input partition's share of a [Group]'s job: a pipeline of its
// own, built by the group's build function, reading that partition only,
// checkpointed to the partition's place in the group's [TaskStore].
type Task[T any] struct {
	// Topic and Partition are the input partition.
	Topic     string
	Partition int32
	// ID names the task: "<topic>-<partition>", its checkpoints' name in
	// the TaskStore.
	ID string
	// Pipeline is the task's pipeline, with checkpoints into the task's
	// store. Build on it; do not Run it (the group does).
	Pipeline *stream.Pipeline
	// Input is the partition's records, with the partition's watermarks.
	Input stream.Stream[Message[T]]
}

// TransactionalID returns the transactional id base of this task's
// [TransactionalSink] named name: "<name>-<topic>-<partition>". It is the
// same in every process that runs the task, so a new owner fences the
// producers of the old one (see [NewTransactionalSink]).
func (t *Task[T]) TransactionalID(name string) string {
	return fmt.Sprintf("%s-%s", name, t.ID)
}

// GroupOption configures a [Group]. Options are values of a sealed
// interface.
type GroupOption interface{ applyGroup(*groupConfig) }

type groupOptionFunc func(*groupConfig)

func (f groupOptionFunc) applyGroup(c *groupConfig) { f(c) }

type groupConfig struct {
	src         []SourceOption
	groupOpts   []kgo.Opt
	interval    time.Duration
	pipeOpts    []stream.Option
	exitDone    time.Duration
	connect     time.Duration
	logger      *slog.Logger
	coKey       any // func(T) []byte
	commitEvery time.Duration
}

// SourceOptions sets the options of every task's [Source]: [Brokers] and
// [ClientOptions] (which the group's own clients use too), [EventTime],
// [OutOfOrderness] or [CarryWatermarks], [IdleTimeout], [MaxPollRecords], [Clock], and
// [InstanceID], which makes the group's member static. [ConsumerGroup],
// [Partitions], [Commit], [ExitWhenIdle] and [OnPartitions] do not apply:
// the group sets them.
func SourceOptions(opts ...SourceOption) GroupOption {
	return groupOptionFunc(func(c *groupConfig) { c.src = append(c.src, opts...) })
}

// GroupClientOptions adds options to the group's membership client only:
// group timing (kgo.SessionTimeout, kgo.RebalanceTimeout,
// kgo.HeartbeatInterval) and kgo.Balancers.
func GroupClientOptions(opts ...kgo.Opt) GroupOption {
	return groupOptionFunc(func(c *groupConfig) { c.groupOpts = append(c.groupOpts, opts...) })
}

// CheckpointInterval sets how often each task checkpoints its state and
// position into the [TaskStore] (default 5s): the work a crash repeats, and
// the delay of a [TransactionalSink]'s output.
func CheckpointInterval(d time.Duration) GroupOption {
	return groupOptionFunc(func(c *groupConfig) {
		if d > 0 {
			c.interval = d
		}
	})
}

// PipelineOptions adds options to every task's [stream.New] (parallelism,
// clock, logger, metrics...). The group adds [stream.WithCheckpoints].
func PipelineOptions(opts ...stream.Option) GroupOption {
	return groupOptionFunc(func(c *groupConfig) { c.pipeOpts = append(c.pipeOpts, opts...) })
}

// ExitWhenDone makes Run end (stopping every task with a savepoint, and
// returning nil) once the group's committed offsets, which record what the
// tasks' stored checkpoints cover, have reached the end of every partition
// of the topic and stayed there for d. It is not an idle timeout: while a
// partition is unassigned (its owner died and the group has not noticed
// yet) or lags, the group's position is short of the end and Run waits.
// By default Run runs until its context is cancelled or [Group.Stop].
func ExitWhenDone(d time.Duration) GroupOption {
	return groupOptionFunc(func(c *groupConfig) {
		if d > 0 {
			c.exitDone = d
		}
	})
}

// ConnectTimeout bounds how long Run waits for the brokers at its start
// (default 15s): unreachable brokers fail it with [ErrUnreachable], a
// missing topic with [ErrNoTopic], and a [TaskStore] that does not answer a
// Claim fails the run after the same time.
func ConnectTimeout(d time.Duration) GroupOption {
	return groupOptionFunc(func(c *groupConfig) {
		if d > 0 {
			c.connect = d
		}
	})
}

// GroupLogger sets the logger of the group's own events: partitions
// assigned, revoked, lost, fenced tasks, commits retried (nil: silent).
func GroupLogger(l *slog.Logger) GroupOption {
	return groupOptionFunc(func(c *groupConfig) { c.logger = l })
}

// CoPartitioned declares the key the pipeline groups by (the key of its
// KeyBy): key(v) must be the Kafka key the producer gave each record, so
// that the default partitioner (murmur2, as Kafka's) put every record of a
// key in one partition, and one task sees all of them. A task that reads a
// record whose key belongs to another partition fails the run with
// [ErrNotCoPartitioned] instead of computing per-partition fragments of a
// key's state. T must be the group's value type, or Run fails with
// [stream.ErrInvalid].
func CoPartitioned[T any](key func(T) []byte) GroupOption {
	return groupOptionFunc(func(c *groupConfig) { c.coKey = key })
}

// Group runs a job over a Kafka topic as a member of a consumer group, with
// one task per assigned partition (see the package documentation, "Scaling
// out"): the group's coordinator shares the partitions among the processes
// running a Group of the same name; each process builds a [stream.Pipeline]
// per partition it owns, whose state and position are checkpointed together
// into the shared [TaskStore] and move with the partition.
//
// A Group runs once: a second Run returns [ErrAlreadyRun].
type Group[T any] struct {
	name, topic string
	decode      func(*kgo.Record) (T, error)
	store       TaskStore
	build       func(*Task[T]) error
	cfg         groupConfig
	src         sourceConfig
	coKey       func(T) []byte

	ran      atomic.Bool
	stopOnce sync.Once
	stopCh   chan struct{}

	runCtx context.Context // parent of the tasks' contexts
	nparts int
	wg     sync.WaitGroup // task goroutines

	mu      sync.Mutex
	tasks   map[int32]*taskRun
	closing bool  // no new tasks
	hard    bool  // tasks are cancelled, not stopped
	fail    error // the first fatal error
	failed  chan struct{}
	stored  map[int32]kgo.EpochOffset // stored positions not yet committed
	kick    chan struct{}
	cl      *kgo.Client
}

// taskRun is one running task.
type taskRun struct {
	part   int32
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	guard  *guardedStore

	mu      sync.Mutex
	p       *stream.Pipeline
	stopReq bool
}

// NewGroup returns a Group named name (the Kafka consumer group) consuming
// topic, decoding records with decode, keeping each task's checkpoints in
// store, and building each task's pipeline with build. It needs [Brokers]
// (through [SourceOptions]).
func NewGroup[T any](name, topic string, decode func(*kgo.Record) (T, error), store TaskStore, build func(*Task[T]) error, opts ...GroupOption) *Group[T] {
	g := &Group[T]{name: name, topic: topic, decode: decode, store: store, build: build,
		cfg:    groupConfig{interval: 5 * time.Second, connect: 15 * time.Second, commitEvery: time.Second},
		stopCh: make(chan struct{}), failed: make(chan struct{}), tasks: map[int32]*taskRun{},
		stored: map[int32]kgo.EpochOffset{}, kick: make(chan struct{}, 1)}
	for _, o := range opts {
		if o != nil {
			o.applyGroup(&g.cfg)
		}
	}
	for _, o := range g.cfg.src {
		if o != nil {
			o.applySource(&g.src)
		}
	}
	return g
}

// Stop ends a running Group gracefully: every task stops with a savepoint
// (its final checkpoint, with its position, is stored and its output
// committed), the positions are committed to the group, and the member
// leaves; Run then returns nil. Safe from any goroutine, more than once,
// and before Run (Run then returns at once).
func (g *Group[T]) Stop() { g.stopOnce.Do(func() { close(g.stopCh) }) }

// Assigned returns the partitions whose tasks run in this process, in
// increasing order. Safe from any goroutine.
func (g *Group[T]) Assigned() []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]int32, 0, len(g.tasks))
	for p := range g.tasks {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (g *Group[T]) check() error {
	c := &g.src
	switch {
	case g.decode == nil:
		return fmt.Errorf("%w: kafka: group %q: nil decoder", stream.ErrInvalid, g.name)
	case g.build == nil:
		return fmt.Errorf("%w: kafka: group %q: nil build function", stream.ErrInvalid, g.name)
	case g.store == nil:
		return fmt.Errorf("%w: kafka: group %q: nil task store", stream.ErrInvalid, g.name)
	case g.name == "" || g.topic == "":
		return fmt.Errorf("%w: kafka: a group needs a name and a topic", stream.ErrInvalid)
	case len(c.brokers) == 0:
		return fmt.Errorf("%w: kafka: group %q: no brokers", stream.ErrInvalid, g.name)
	case c.group != "" || len(c.partitions) > 0 || c.listener != nil || c.exitWhenIdle > 0 || c.policy != nil:
		return fmt.Errorf("%w: kafka: group %q: ConsumerGroup, Partitions, OnPartitions, ExitWhenIdle and Commit do not apply to a group's sources", stream.ErrInvalid, g.name)
	}
	if g.cfg.coKey != nil {
		fn, ok := g.cfg.coKey.(func(T) []byte)
		if !ok {
			return fmt.Errorf("%w: kafka: CoPartitioned takes a %T, want a func(%T) []byte", stream.ErrInvalid, g.cfg.coKey, *new(T))
		}
		g.coKey = fn
	}
	return nil
}

// Run joins the group and runs a task for each partition assigned to this
// process until ctx is cancelled (it returns ctx.Err(); tasks stop without a
// final checkpoint and resume from their last one), [Group.Stop] is called
// or [ExitWhenDone] holds (it returns nil after stopping every task with a
// savepoint), or a task fails (it returns the task's error). A task fenced
// by a newer owner is not a failure: it ends, and its partition is the
// other owner's.
func (g *Group[T]) Run(ctx context.Context) error {
	if !g.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	if err := g.check(); err != nil {
		return err
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(g.src.brokers...)}, g.src.clientOpts...)
	// The admin client names topics in OffsetFetch (v10 uses topic ids).
	admin, err := kgo.NewClient(append(slices.Clone(base), kgo.MaxVersions(kversion.V2_8_0()))...)
	if err != nil {
		return fmt.Errorf("kafka: group %q: client: %w", g.name, err)
	}
	defer admin.Close()
	if g.nparts, err = g.partitions(ctx, admin); err != nil {
		return err
	}
	opts := append(slices.Clone(base), g.cfg.groupOpts...)
	opts = append(opts,
		kgo.ConsumerGroup(g.name),
		kgo.ConsumeTopics(g.topic),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(g.onAssigned),
		kgo.OnPartitionsRevoked(g.onRevoked),
		kgo.OnPartitionsLost(g.onLost),
	)
	if g.src.instanceID != "" {
		opts = append(opts, kgo.InstanceID(g.src.instanceID))
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.runCtx = runCtx
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: group %q: client: %w", g.name, err)
	}
	// The membership client fetches nothing: each task reads its partition
	// with a client of its own.
	cl.PauseFetchTopics(g.topic)
	g.mu.Lock()
	g.cl = cl
	g.mu.Unlock()
	commitDone, watchDone := make(chan struct{}), make(chan struct{})
	go g.committer(runCtx, cl, commitDone)
	go g.watch(runCtx, cl, watchDone)

	var doneTick <-chan time.Time
	if g.cfg.exitDone > 0 {
		t := time.NewTicker(min(max(g.cfg.exitDone/4, 50*time.Millisecond), time.Second))
		defer t.Stop()
		doneTick = t.C
	}
	var doneSince time.Time
	graceful := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.failed:
			break loop
		case <-g.stopCh:
			graceful = true
			break loop
		case now := <-doneTick:
			ok := g.caughtUp(runCtx, admin)
			switch {
			case !ok:
				doneSince = time.Time{}
			case doneSince.IsZero():
				doneSince = now
			case now.Sub(doneSince) >= g.cfg.exitDone:
				graceful = true
				break loop
			}
		}
	}
	g.mu.Lock()
	g.closing = true
	g.hard = !graceful || g.fail != nil
	tasks := g.taskList()
	g.mu.Unlock()
	if g.hard {
		for _, t := range tasks {
			t.cancel()
		}
	} else {
		var wg sync.WaitGroup
		for _, t := range tasks {
			wg.Go(func() { t.stop(context.WithoutCancel(ctx)) })
		}
		wg.Wait()
	}
	g.wg.Wait()
	if !g.hard {
		g.commitStored(context.WithoutCancel(ctx), cl, nil)
	}
	cancel()
	<-commitDone
	<-watchDone
	cl.Close() // leaves the group (a static member keeps its session)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.fail != nil:
		return g.fail
	case graceful:
		return nil
	}
	return ctx.Err()
}

func (g *Group[T]) taskList() []*taskRun {
	out := make([]*taskRun, 0, len(g.tasks))
	for _, t := range g.tasks {
		out = append(out, t)
	}
	return out
}

func (g *Group[T]) log() *slog.Logger {
	if g.cfg.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.cfg.logger
}

// setFail records the first fatal error and makes Run end.
func (g *Group[T]) setFail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail == nil {
		g.fail = err
		close(g.failed)
	}
}

// partitions checks, within the connect timeout, that the brokers answer
// and the topic exists, and returns its number of partitions.
func (g *Group[T]) partitions(ctx context.Context, admin *kgo.Client) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, g.cfg.connect)
	defer cancel()
	n, err := topicPartitions(cctx, admin, g.topic)
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.Is(err, ErrUnreachable):
		return 0, fmt.Errorf("%w (group %q, brokers %v, within %v)", err, g.name, g.src.brokers, g.cfg.connect)
	case err != nil:
		return 0, fmt.Errorf("%w (group %q)", err, g.name)
	}
	return n, nil
}

// topicPartitions returns the number of partitions of topic.
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return 0, fmt.Errorf("%w: %q", ErrNoTopic, topic)
			}
			return 0, fmt.Errorf("kafka: metadata of topic %q: %w", topic, err)
		}
		if len(t.Partitions) == 0 {
			return 0, fmt.Errorf("%w: %q has no partitions", ErrNoTopic, topic)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("%w: %q", ErrNoTopic, topic)
}

// EndOffsets returns the end offset (the offset the next record will get)
// of every partition of topic, asking the brokers through cl, a client of
// any kind. It fails with an error wrapping [ErrNoTopic] if the topic does
// not exist and [ErrUnreachable] if the brokers do not answer before ctx
// is done. Comparing them with the positions a job has stored tells
// whether its state covers the whole topic.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	n, err := topicPartitions(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, cl, topic, n)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return ends, nil
}

// caughtUp reports whether the group's committed offsets have reached the
// end of every partition of the topic.
func (g *Group[T]) caughtUp(ctx context.Context, admin *kgo.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := endOffsets(ctx, admin, g.topic, g.nparts)
	if err != nil {
		g.log().Debug("kafka group: end offsets", "group", g.name, "err", err)
		return false
	}
	committed, err := committedOffsets(ctx, admin, g.name, g.topic)
	if err != nil {
		g.log().Debug("kafka group: committed offsets", "group", g.name, "err", err)
		return false
	}
	var behind []int32
	for p, end := range ends {
		if end > 0 && committed[p] < end {
			behind = append(behind, p)
		}
	}
	if len(behind) > 0 {
		slices.Sort(behind)
		g.log().Debug("kafka group: not done: partitions behind their end", "group", g.name, "topic", g.topic, "partitions", behind)
		return false
	}
	return true
}

// endOffsets returns the end offset (the next offset to be written) of
// partitions 0..n-1 of topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, n int) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range n {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	shards := cl.RequestSharded(ctx, req)
	out := make(map[int32]int64, n)
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, sh.Err
		}
		resp := sh.Resp.(*kmsg.ListOffsetsResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("end offsets of %s: %d of %d partitions", topic, len(out), n)
	}
	return out, nil
}

// committedOffsets returns group's committed offsets of topic (partitions
// without a commit are absent).
func committedOffsets(ctx context.Context, cl *kgo.Client, group, topic string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	// No topics: all of the group's.
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// onAssigned starts a task for each newly assigned partition; it does not
// wait for them.
func (g *Group[T]) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return
	}
	for _, p := range assigned[g.topic] {
		if g.tasks[p] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(g.runCtx)
		t := &taskRun{part: p, ctx: ctx, cancel: cancel, done: make(chan struct{})}
		g.tasks[p] = t
		g.wg.Add(1)
		go g.runTask(t)
	}
	g.log().Info("kafka group: partitions assigned", "group", g.name, "topic", g.topic, "partitions", assigned[g.topic])
}

// onRevoked stops the revoked partitions' tasks with a savepoint (their
// final checkpoints, with their positions, are stored before the rebalance
// goes on), commits their positions and forgets them.
func (g *Group[T]) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ps := revoked[g.topic]
	if len(ps) == 0 {
		return
	}
	g.mu.Lock()
	hard := g.hard
	var ts []*taskRun
	for _, p := range ps {
		if t := g.tasks[p]; t != nil {
			ts = append(ts, t)
		}
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		if hard {
			t.cancel()
			<-t.done
			continue
		}
		wg.Go(func() { t.stop(ctx) })
	}
	wg.Wait()
	only := map[int32]bool{}
	for _, p := range ps {
		only[p] = true
	}
	if !hard {
		g.commitStored(ctx, cl, only)
	}
	g.mu.Lock()
	for _, p := range ps {
		delete(g.tasks, p)
		delete(g.stored, p)
	}
	g.mu.Unlock()
	g.log().Info("kafka group: partitions revoked", "group", g.name, "topic", g.topic, "partitions", ps)
}

// onLost drops the lost partitions' tasks without writing anything: another
// member may own them already.
func (g *Group[T]) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	ps := lost[g.topic]
	g.mu.Lock()
	var ts []*taskRun
	for _, p := range ps {
		if t := g.tasks[p]; t != nil {
			t.guard.drop()
			ts = append(ts, t)
		}
		delete(g.stored, p)
	}
	g.mu.Unlock()
	for _, t := range ts {
		t.cancel()
		<-t.done
	}
	g.mu.Lock()
	for _, p := range ps {
		delete(g.tasks, p)
	}
	g.mu.Unlock()
	if len(ps) > 0 {
		g.log().Warn("kafka group: partitions lost", "group", g.name, "topic", g.topic, "partitions", ps)
	}
}

// stop stops the task with a savepoint and waits for it to end.
func (t *taskRun) stop(ctx context.Context) {
	t.mu.Lock()
	t.stopReq = true
	p := t.p
	t.mu.Unlock()
	if p != nil {
		_ = p.Stop(ctx)
	}
	<-t.done
}

func (g *Group[T]) runTask(t *taskRun) {
	defer g.wg.Done()
	defer close(t.done)
	defer t.cancel()
	err := g.task(t)
	if err == nil || t.ctx.Err() != nil {
		return
	}
	if errors.Is(err, stream.ErrFenced) {
		g.log().Warn("kafka group: task fenced by a newer owner", "group", g.name, "topic", g.topic, "partition", t.part, "err", err)
		return
	}
	g.setFail(fmt.Errorf("kafka: group %q: task %s-%d: %w", g.name, g.topic, t.part, err))
}

// task claims the partition's checkpoints, builds its pipeline and runs it.
func (g *Group[T]) task(t *taskRun) error {
	id := fmt.Sprintf("%s-%d", g.topic, t.part)
	cctx, cancel := context.WithTimeout(t.ctx, g.cfg.connect)
	store, err := g.store.Claim(cctx, id)
	cancel()
	if err != nil {
		if t.ctx.Err() != nil {
			return t.ctx.Err()
		}
		return fmt.Errorf("claim task store: %w", err)
	}
	g.mu.Lock()
	t.guard = &guardedStore{CheckpointStore: store}
	g.mu.Unlock()
	p := stream.New(append(slices.Clone(g.cfg.pipeOpts), stream.WithCheckpoints(t.guard, g.cfg.interval))...)
	srcOpts := append(slices.Clone(g.cfg.src),
		Partitions(g.topic, map[int32]kgo.Offset{t.part: kgo.NewOffset().AtStart()}))
	ts := &taskSource[T]{Source: NewSource(g.decode, srcOpts...), g: g, part: t.part}
	task := &Task[T]{Topic: g.topic, Partition: t.part, ID: id, Pipeline: p,
		Input: stream.From(p, stream.Source[Message[T]](ts))}
	if err := g.build(task); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	t.mu.Lock()
	if t.stopReq {
		t.mu.Unlock()
		return nil
	}
	t.p = p
	t.mu.Unlock()
	return p.Run(t.ctx)
}

// storedPosition records the position a task's completed checkpoint
// covers, for the committer.
func (g *Group[T]) storedPosition(p int32, eo kgo.EpochOffset) {
	g.mu.Lock()
	if t := g.tasks[p]; t != nil && !t.guard.dropped.Load() {
		g.stored[p] = eo
	}
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// committer commits the stored positions to the group, at most about once
// per second. The commits are a mirror of the task store, for lag
// monitoring and ExitWhenDone: a failed one is retried, never fatal.
func (g *Group[T]) committer(ctx context.Context, cl *kgo.Client, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.kick:
		}
		g.commitStored(ctx, cl, nil)
		select {
		case <-ctx.Done():
			return
		case <-time.After(g.cfg.commitEvery):
		}
	}
}

// watch polls the membership client, whose topic is paused, only for the
// errors of the group's management that kgo reports through polls: one the
// broker will never stop returning (an invalid session timeout, a group
// not authorized) fails the run instead of leaving the member waiting for
// an assignment for ever.
func (g *Group[T]) watch(ctx context.Context, cl *kgo.Client, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, fe := range fs.Errors() {
			if ctx.Err() != nil {
				return
			}
			var ke *kerr.Error
			if errors.As(fe.Err, &ke) && !ke.Retriable {
				g.setFail(fmt.Errorf("kafka: group %q: %w", g.name, fe.Err))
				return
			}
			g.log().Warn("kafka group: group management", "group", g.name, "err", fe.Err)
		}
	}
}

// commitStored commits the stored positions (of the partitions in only, if
// set) not yet committed.
func (g *Group[T]) commitStored(ctx context.Context, cl *kgo.Client, only map[int32]bool) {
	g.mu.Lock()
	offsets := Offsets{}
	for p, eo := range g.stored {
		if only == nil || only[p] {
			offsets.set(g.topic, p, eo)
		}
	}
	g.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if cerr == nil {
						cerr = err
					}
					continue
				}
				if eo, ok := g.stored[p.Partition]; ok && eo == offsets[g.topic][p.Partition] {
					delete(g.stored, p.Partition)
				}
			}
		}
	})
	if cerr != nil {
		// Not fatal: the positions are in the task store; the next
		// checkpoint commits again, or the partition's next owner does.
		g.log().Info("kafka group: commit not done, will retry", "group", g.name, "err", cerr)
	}
}

// guardedStore refuses every Save once its task has been dropped (its
// partition lost), on top of the TaskStore's own fencing.
type guardedStore struct {
	stream.CheckpointStore
	dropped atomic.Bool
}

func (s *guardedStore) drop() {
	if s != nil {
		s.dropped.Store(true)
	}
}

// Save stores cp unless the task has been dropped.
func (s *guardedStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	if s.dropped.Load() {
		return fmt.Errorf("%w: partition lost", stream.ErrFenced)
	}
	return s.CheckpointStore.Save(ctx, cp)
}

// taskSource is a task's Source: it records the position of each
// checkpoint, so that once the checkpoint is stored the group commits it,
// and checks co-partitioning.
type taskSource[T any] struct {
	*Source[T]
	g    *Group[T]
	part int32

	mu      sync.Mutex
	pending []kgo.EpochOffset // by checkpoint, oldest first (Offset -1: none)
}

var (
	_ stream.Snapshotter        = (*taskSource[int])(nil)
	_ stream.CheckpointListener = (*taskSource[int])(nil)
)

// Run runs the Source, checking co-partitioning if asked to.
func (s *taskSource[T]) Run(ctx context.Context, out stream.SourceOutput[Message[T]]) error {
	if g := s.g; g.coKey != nil {
		out = &coPartitionCheck[T]{SourceOutput: out, key: g.coKey, n: g.nparts, part: s.part,
			part2: kgo.StickyKeyPartitioner(nil).ForTopic(g.topic)}
	}
	return s.Source.Run(ctx, out)
}

// Snapshot records the partition's position in this checkpoint.
func (s *taskSource[T]) Snapshot() ([]byte, error) {
	b, err := s.Source.Snapshot()
	if err != nil {
		return nil, err
	}
	eo := kgo.EpochOffset{Epoch: -1, Offset: -1}
	if pos, err := decodeOffsets(b); err == nil {
		for _, ps := range pos {
			if v, ok := ps[s.part]; ok {
				eo = v
			}
		}
	}
	s.mu.Lock()
	s.pending = append(s.pending, eo)
	s.mu.Unlock()
	return b, nil
}

// CheckpointComplete hands the stored position to the group's committer.
func (s *taskSource[T]) CheckpointComplete(ctx context.Context, id int64) error {
	if err := s.Source.CheckpointComplete(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	eo := s.pending[0]
	s.pending = s.pending[1:]
	s.mu.Unlock()
	if eo.Offset >= 0 {
		s.g.storedPosition(s.part, eo)
	}
	return nil
}

// coPartitionCheck fails the source on a record whose pipeline key the
// default partitioner sends to another partition.
type coPartitionCheck[T any] struct {
	stream.SourceOutput[Message[T]]
	key   func(T) []byte
	n     int
	part  int32
	part2 kgo.TopicPartitioner
}

// Emit checks r's key, then emits it.
func (c *coPartitionCheck[T]) Emit(r stream.Record[Message[T]]) error {
	if r.Value.Err == nil {
		k := c.key(r.Value.Value)
		if want := c.part2.Partition(&kgo.Record{Key: k}, c.n); k != nil && int32(want) != c.part {
			return fmt.Errorf("%w: %s/%d@%d has the key %q, which belongs to partition %d: produce the topic keyed by the pipeline's key (co-partition it), or repartition through a topic that is",
				ErrNotCoPartitioned, r.Value.Topic, r.Value.Partition, r.Value.Offset, k, want)
		}
	}
	return c.SourceOutput.Emit(r)
}
