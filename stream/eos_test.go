package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// notifyStore is a CheckpointStore in memory that reports every saved
// checkpoint on a channel.
type notifyStore struct {
	mu     sync.Mutex
	latest *stream.Checkpoint
	saved  chan int64
	log    *eventLog
}

func newNotifyStore() *notifyStore { return &notifyStore{saved: make(chan int64, 100)} }

func (s *notifyStore) Save(_ context.Context, cp *stream.Checkpoint) error {
	s.mu.Lock()
	s.latest = cp
	s.mu.Unlock()
	if s.log != nil {
		s.log.add(fmt.Sprintf("save %d", cp.ID))
	}
	s.saved <- cp.ID
	return nil
}

func (s *notifyStore) Latest(context.Context) (*stream.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest, nil
}

type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev)
}

// ckptMetrics records checkpoint figures.
type ckptMetrics struct {
	stream.NopMetrics
	mu        sync.Mutex
	completed []int64
	bytes     []int
}

func (m *ckptMetrics) CheckpointCompleted(id int64, _ time.Duration, bytes int) {
	m.mu.Lock()
	m.completed = append(m.completed, id)
	m.bytes = append(m.bytes, bytes)
	m.mu.Unlock()
}
func (m *ckptMetrics) CheckpointFailed(int64) {}

func waitSaved(t *testing.T, s *notifyStore) int64 {
	t.Helper()
	select {
	case id := <-s.saved:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no checkpoint was stored")
		return 0
	}
}

func TestCheckpointsCompleteWhileTheSourceWaits(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(0, 0))
	store := newNotifyStore()
	m := &ckptMetrics{}
	src := streamtest.NewReplay(counts(5))
	src.Hold = true // parked in Await after its five records, for ever
	p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store, 10*time.Second), stream.WithMetrics(m))
	sink := &listSink{}
	stream.To(stream.Map(stream.From(p, src), func(v int64) string { return fmt.Sprint(v) }), sink)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	for want := int64(1); want <= 3; want++ {
		require.NoError(t, clk.WaitForTimers(ctx, 1))
		clk.Advance(10 * time.Second)
		assert.Equal(t, want, waitSaved(t, store))
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	cp, _ := store.Latest(ctx)
	require.NotNil(t, cp)
	assert.Equal(t, int64(3), cp.ID)
	// Checkpoint 3 has the source after its five records: a run resumed
	// from it reads only the rest.
	out := &listSink{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	stream.To(stream.Map(stream.From(p2, streamtest.NewReplay(counts(8))), func(v int64) string { return fmt.Sprint(v) }), out)
	require.NoError(t, p2.Run(context.Background()))
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, out.vals)
	m.mu.Lock()
	assert.Equal(t, []int64{1, 2, 3}, m.completed)
	assert.Positive(t, m.bytes[0])
	m.mu.Unlock()
}

// endSum passes values through as "v=N" and emits "sum=S" of all of them
// when the watermark reaches the end of input.
type endSum struct{ sum int64 }

func (o *endSum) ProcessRecord(r stream.Record[int64], out stream.Emitter[string]) error {
	o.sum += r.Value
	return out.Emit(stream.At(fmt.Sprintf("v=%d", r.Value), r.Time))
}
func (o *endSum) ProcessWatermark(w stream.Time, out stream.Emitter[string]) error {
	if w == stream.MaxTime {
		return out.Emit(stream.At(fmt.Sprintf("sum=%d", o.sum), w))
	}
	return nil
}
func (o *endSum) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, o.sum), nil }
func (o *endSum) Restore(b []byte) error {
	v, n := binary.Varint(b)
	if n <= 0 {
		return errors.New("bad sum")
	}
	o.sum = v
	return nil
}

// countingSink is a listSink that reports when it holds n values.
type countingSink struct {
	listSink
	n    int
	full chan struct{}
	once sync.Once
}

func (s *countingSink) Write(ctx context.Context, r stream.Record[string]) error {
	if err := s.listSink.Write(ctx, r); err != nil {
		return err
	}
	s.mu.Lock()
	n := len(s.vals)
	s.mu.Unlock()
	if n >= s.n {
		s.once.Do(func() { close(s.full) })
	}
	return nil
}

func buildEndSum(p *stream.Pipeline, src stream.Source[int64], sink stream.Sink[string]) {
	s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	// Through an exchange, so the stop travels like the end of input does.
	r := stream.Rebalance(s, stream.Parallelism(1))
	sums := stream.Apply(r, func() stream.Operator[int64, string] { return &endSum{} }, stream.Name("sum"))
	stream.To(sums, sink, stream.Name("list"))
}

func values(from, to int64) []string {
	var out []string
	for v := from; v < to; v++ {
		out = append(out, fmt.Sprintf("v=%d", v))
	}
	return out
}

func TestStopWithSavepointThenResume(t *testing.T) {
	t.Parallel()
	store := newNotifyStore()
	ctx := context.Background()

	// Run 1 reads ten records, waits for more and is stopped.
	src := streamtest.NewReplay(counts(10))
	src.Hold = true
	sink := &countingSink{n: 10, full: make(chan struct{})}
	p := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p, src, sink)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-sink.full
	require.NoError(t, p.Stop(ctx))
	require.NoError(t, <-errc)
	assert.Equal(t, values(0, 10), sink.vals, "a stop fires nothing")
	final := waitSaved(t, store)
	assert.Equal(t, int64(1), final, "the final checkpoint")

	// Run 2 resumes and reads the input to its end.
	out := &listSink{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p2, streamtest.NewReplay(counts(15)), out)
	require.NoError(t, p2.Run(ctx))
	assert.Equal(t, append(values(0, 15), "sum=105"), out.vals, "resumed as if never stopped")

	// Run 3 from run 2's final checkpoint has nothing left to do.
	out3 := &listSink{}
	p3 := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p3, streamtest.NewReplay(counts(15)), out3)
	require.NoError(t, p3.Run(ctx))
	assert.Equal(t, out.vals, out3.vals, "a rerun after the end repeats nothing")
}

func TestDrainFiresEverything(t *testing.T) {
	t.Parallel()
	store := newNotifyStore()
	ctx := context.Background()
	src := streamtest.NewReplay(counts(10))
	src.Hold = true
	sink := &countingSink{n: 10, full: make(chan struct{})}
	p := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p, src, sink)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-sink.full
	require.NoError(t, p.Drain(ctx))
	require.NoError(t, <-errc)
	assert.Equal(t, append(values(0, 10), "sum=45"), sink.vals)

	// Resuming the drained run continues after the drained records, with
	// event time at its end (as in Flink, a drain is for ending a job).
	out := &listSink{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p2, streamtest.NewReplay(counts(12)), out)
	require.NoError(t, p2.Run(ctx))
	assert.Equal(t, append(append(values(0, 10), "sum=45"), "v=10", "v=11"), out.vals)
}

func TestStopWithoutCheckpointsDrains(t *testing.T) {
	t.Parallel()
	src := streamtest.NewReplay(counts(4))
	src.Hold = true
	sink := &countingSink{n: 4, full: make(chan struct{})}
	p := stream.New()
	buildEndSum(p, src, sink)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	<-sink.full
	require.NoError(t, p.Stop(context.Background()))
	require.NoError(t, <-errc)
	assert.Equal(t, append(values(0, 4), "sum=6"), sink.vals)
}

func TestStopBeforeRun(t *testing.T) {
	t.Parallel()
	src := streamtest.NewReplay(counts(3))
	src.Hold = true
	p := stream.New(stream.WithCheckpoints(newNotifyStore(), time.Hour))
	buildEndSum(p, src, &listSink{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.Stop(ctx), context.DeadlineExceeded, "Stop waits for Run")
	require.NoError(t, p.Run(context.Background()), "Run stops at once")
}

// stoppingSource emits n records, then returns stream.ErrStopped, as a
// Kafka source's Stop makes it do.
type stoppingSource struct {
	streamtest.Replay[int64]
}

func (s *stoppingSource) Run(ctx context.Context, out stream.SourceOutput[int64]) error {
	if err := s.Replay.Run(ctx, out); err != nil {
		return err
	}
	return stream.ErrStopped
}

func TestSourceReturningErrStoppedStopsWithSavepoint(t *testing.T) {
	t.Parallel()
	store := newNotifyStore()
	src := &stoppingSource{Replay: *streamtest.NewReplay(counts(6))}
	sink := &listSink{}
	p := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildEndSum(p, src, sink)
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, values(0, 6), sink.vals, "no sum: a stop, not an end")
	cp, _ := store.Latest(context.Background())
	require.NotNil(t, cp, "a final checkpoint")
}

// txnSink is a two-phase-commit sink over a shared "topic": records become
// visible there only when committed.
type txnSink struct {
	topic   *topic
	log     *eventLog
	open    []string
	pending map[int64][]string // pre-committed, by checkpoint
	failAt  int64              // Commit(failAt) fails: a crash before the commit
}

type topic struct {
	mu   sync.Mutex
	vals []string
	done map[int64]bool // checkpoint ids committed (idempotence)
}

func (s *txnSink) Write(_ context.Context, r stream.Record[string]) error {
	s.open = append(s.open, r.Value)
	return nil
}

func (s *txnSink) PreCommit(_ context.Context, id int64) error {
	s.log.add(fmt.Sprintf("precommit %d", id))
	if s.pending == nil {
		s.pending = map[int64][]string{}
	}
	s.pending[id] = s.open
	s.open = nil
	return nil
}

func (s *txnSink) Commit(_ context.Context, id int64) error {
	s.log.add(fmt.Sprintf("commit %d", id))
	if s.failAt != 0 && id == s.failAt {
		return errCrash
	}
	s.topic.mu.Lock()
	defer s.topic.mu.Unlock()
	var ids []int64
	for pid := range s.pending {
		if pid <= id {
			ids = append(ids, pid)
		}
	}
	slices.Sort(ids)
	for _, pid := range ids {
		if !s.topic.done[pid] {
			s.topic.vals = append(s.topic.vals, s.pending[pid]...)
			s.topic.done[pid] = true
		}
		delete(s.pending, pid)
	}
	return nil
}

func (s *txnSink) Abort(context.Context) error {
	s.log.add("abort")
	s.open = nil
	return nil
}

// Snapshot names the pre-committed transactions (the last one is the
// checkpoint's).
func (s *txnSink) Snapshot() ([]byte, error) {
	var b []byte
	for id, vals := range s.pending {
		b = binary.AppendVarint(b, id)
		b = binary.AppendUvarint(b, uint64(len(vals)))
		for _, v := range vals {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b, nil
}

func (s *txnSink) Restore(b []byte) error {
	s.pending = map[int64][]string{}
	for len(b) > 0 {
		id, n := binary.Varint(b)
		b = b[n:]
		cnt, n := binary.Uvarint(b)
		b = b[n:]
		var vals []string
		for range cnt {
			l, n := binary.Uvarint(b)
			vals = append(vals, string(b[n:n+int(l)]))
			b = b[n+int(l):]
		}
		s.pending[id] = vals
	}
	return nil
}

func TestTwoPhaseCommitSinkIsExactlyOnceAcrossACrash(t *testing.T) {
	t.Parallel()
	const n = 2000
	ref := &listSink{}
	p := stream.New()
	buildSum(p, streamtest.NewReplay(counts(n)), ref)
	require.NoError(t, p.Run(context.Background()))

	store := newNotifyStore()
	log := &eventLog{}
	store.log = log
	tp := &topic{done: map[int64]bool{}}
	build := func(p *stream.Pipeline, src *streamtest.Replay[int64], sink *txnSink) {
		s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
		k := stream.KeyBy(s, func(v int64) int64 { return v % 5 }, stream.Parallelism(2), stream.BatchSize(7))
		sums := stream.Apply(k.Stream, func() stream.Operator[int64, string] { return &sumOp{sums: map[int64]int64{}} }, stream.Name("sum"))
		stream.To(sums, sink, stream.Name("txn"))
	}
	// Run 1 stores checkpoint 3 and dies before committing it.
	held := streamtest.NewReplay(counts(n / 2))
	held.Hold = true
	p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
	build(p1, held, &txnSink{topic: tp, log: log, failAt: 3})
	require.ErrorIs(t, p1.Run(context.Background()), errCrash)
	ev := log.events()
	assert.Equal(t, []string{"precommit 3", "save 3", "commit 3", "abort"}, ev[len(ev)-4:],
		"pre-commit at the barrier, commit after the store, abort on failure")
	tp.mu.Lock()
	assert.False(t, tp.done[3])
	tp.mu.Unlock()

	// Run 2 restores checkpoint 3, commits it first, and finishes.
	log2 := &eventLog{}
	store.log = log2
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	build(p2, streamtest.NewReplay(counts(n)), &txnSink{topic: tp, log: log2})
	require.NoError(t, p2.Run(context.Background()))
	ev2 := log2.events()
	assert.Equal(t, "commit 3", ev2[0], "the restored checkpoint is committed before anything else")
	assert.Equal(t, []string{"precommit 4", "save 4", "commit 4"}, ev2[len(ev2)-3:], "the end is the final checkpoint")
	got, want := slices.Clone(tp.vals), slices.Clone(ref.vals)
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got, "every result visible exactly once")
}

func TestTwoPhaseCommitSinkWithoutCheckpointsCommitsAtTheEnd(t *testing.T) {
	t.Parallel()
	log := &eventLog{}
	tp := &topic{done: map[int64]bool{}}
	p := stream.New()
	stream.To(stream.Map(stream.From(p, stream.Slice([]int{1, 2, 3})), func(v int) string { return fmt.Sprint(v) }),
		&txnSink{topic: tp, log: log})
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []string{"precommit 0", "commit 0"}, log.events())
	assert.Equal(t, []string{"1", "2", "3"}, tp.vals)
}
