package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/window"
)

// click is a page view; the topic is keyed by page.
type click struct {
	Page string `json:"page"`
	TS   int64  `json:"ts"` // unix milliseconds
}

func decodeClick(r *kgo.Record) (click, error) {
	var c click
	err := json.Unmarshal(r.Value, &c)
	return c, err
}

// pageCount is one window's count of one page.
type pageCount struct {
	Page  string `json:"page"`
	Start int64  `json:"start"` // unix milliseconds
	N     int64  `json:"n"`
}

const groupWindow = 10 * time.Second

// buildCounts is the job of every task: per-page counts in tumbling
// windows, written exactly once to topic out.
func buildCounts(addr, out string) func(*kafka.Task[click]) error {
	return func(t *kafka.Task[click]) error {
		clicks := kafka.Decode(t.Input).Stream
		counts := window.Aggregate(stream.KeyBy(clicks, func(c click) string { return c.Page }),
			window.Tumbling(groupWindow), window.Count[click](), stream.Name("counts"))
		rows := stream.Map(counts.Results(), func(r window.Result[string, int64]) pageCount {
			return pageCount{Page: r.Key, Start: r.Start.Std().UnixMilli(), N: r.Value}
		})
		stream.To(rows, kafka.NewTransactionalSink(out, func(c pageCount) ([]byte, error) { return json.Marshal(c) },
			t.TransactionalID("counts"), kafka.Brokers(addr), kafka.TransactionTimeout(10*time.Second)))
		return nil
	}
}

// pageFor returns a page name the default partitioner sends to partition
// p of n.
func pageFor(prefix string, p int32, n int) string {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("")
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if int32(part.Partition(&kgo.Record{Key: []byte(name)}, n)) == p {
			return name
		}
	}
}

func clickRecord(topic string, c click) *kgo.Record {
	b, _ := json.Marshal(c)
	return &kgo.Record{Topic: topic, Key: []byte(c.Page), Value: b, Timestamp: time.UnixMilli(c.TS)}
}

// clicks returns n clicks over pages, in time order, from time base.
func genClicks(pages []string, n int, base int64) []click {
	out := make([]click, n)
	for i := range out {
		out[i] = click{Page: pages[(i*7+i/3)%len(pages)], TS: base + int64(i)*137}
	}
	return out
}

// sentinels are one click per partition far after the input, so each
// partition's watermark passes every window of the input.
func sentinels(parts int, ts int64) []click {
	out := make([]click, parts)
	for p := range out {
		out[p] = click{Page: pageFor("end", int32(p), parts), TS: ts}
	}
	return out
}

// expectedCounts is the brute-force answer: every (page, window) of the
// input with its count, sentinels excluded.
func expectedCounts(cs []click) map[[2]string]int64 {
	want := map[[2]string]int64{}
	w := groupWindow.Milliseconds()
	for _, c := range cs {
		start := c.TS - c.TS%w
		want[[2]string{c.Page, fmt.Sprint(start)}]++
	}
	return want
}

// readCounts reads topic read_committed up to a marker it appends, so every
// transaction before it is decided, and returns the rows by (page, start)
// with how many times each came.
func readCounts(t *testing.T, addr, topic string) (map[[2]string]int64, map[[2]string]int) {
	t.Helper()
	marker := &kgo.Record{Topic: topic, Value: []byte("end")}
	produce(t, client(t, addr), marker)
	cl := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got, times := map[[2]string]int64{}, map[[2]string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "the marker did not come")
		for _, r := range fs.Records() {
			if string(r.Value) == "end" {
				return got, times
			}
			var pc pageCount
			require.NoError(t, json.Unmarshal(r.Value, &pc))
			k := [2]string{pc.Page, fmt.Sprint(pc.Start)}
			got[k] = pc.N
			times[k]++
		}
	}
}

func newGroupCluster(t *testing.T, parts int32) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, "clicks"), kfake.SeedTopics(1, "counts"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// runGroup runs g in a goroutine; stop stops it and returns Run's error;
// done is closed when Run has returned, with *err set.
func runGroup[T any](g *kafka.Group[T]) (stop func() error, done <-chan error) {
	ch := make(chan error, 1)
	exited := make(chan struct{})
	var err error
	go func() {
		err = g.Run(context.Background())
		ch <- err
		close(exited)
	}()
	return func() error {
		g.Stop()
		<-exited
		return err
	}, ch
}

func groupOf(addr string, store kafka.TaskStore, opts ...kafka.GroupOption) *kafka.Group[click] {
	opts = append([]kafka.GroupOption{
		kafka.SourceOptions(kafka.Brokers(addr), kafka.MaxPollRecords(50)),
		kafka.GroupClientOptions(kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.RebalanceTimeout(10*time.Second)),
		kafka.CheckpointInterval(50 * time.Millisecond),
		kafka.CoPartitioned(func(c click) []byte { return []byte(c.Page) }),
	}, opts...)
	return kafka.NewGroup("counters", "clicks", decodeClick, store, buildCounts(addr, "counts"), opts...)
}

// TestGroupMovesStateWithPartitions runs window.Aggregate as a group: one
// member takes every partition and checkpoints half the input, a second
// joins (a rebalance: the first stops the moving tasks with a savepoint,
// the second restores them), the rest of the input comes, the first leaves
// (every task moves to the second). The output, read read_committed, has
// every window's count exactly once, equal to the brute-force count.
func TestGroupMovesStateWithPartitions(t *testing.T) {
	const parts = 4
	addr := newGroupCluster(t, parts)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	pages := []string{"home", "cart", "search", "about", "help", "blog", "jobs"}
	input := genClicks(pages, 3000, 1_000_000)
	half := len(input) / 2
	pc := client(t, addr)
	recs := func(cs []click) []*kgo.Record {
		var out []*kgo.Record
		for _, c := range cs {
			out = append(out, clickRecord("clicks", c))
		}
		return out
	}
	produce(t, pc, recs(input[:half])...)

	g1 := groupOf(addr, store)
	stop1, _ := runGroup(g1)
	defer stop1()
	caughtUpTo := func(ends map[int32]int64) func() bool {
		return func() bool {
			c := committed(t, pc, "counters", "clicks")
			for p, e := range ends {
				if c[p] < e {
					return false
				}
			}
			return true
		}
	}
	eventually(t, "the first member checkpoints the first half", caughtUpTo(endsOf(t, pc, "clicks", parts)))
	assert.Len(t, g1.Assigned(), parts, "a lone member runs every partition's task")

	g2 := groupOf(addr, store)
	stop2, _ := runGroup(g2)
	defer stop2()
	eventually(t, "the partitions are shared", func() bool {
		return len(g1.Assigned()) > 0 && len(g2.Assigned()) > 0 && len(g1.Assigned())+len(g2.Assigned()) == parts
	})
	produce(t, pc, recs(input[half:])...)
	eventually(t, "the rest is checkpointed", caughtUpTo(endsOf(t, pc, "clicks", parts)))
	require.NoError(t, stop1(), "the first member leaves cleanly")
	eventually(t, "the second member owns everything", func() bool { return len(g2.Assigned()) == parts })
	produce(t, pc, recs(sentinels(parts, 1_000_000+int64(len(input))*137+time.Hour.Milliseconds()))...)
	eventually(t, "the sentinels are checkpointed", caughtUpTo(endsOf(t, pc, "clicks", parts)))
	require.NoError(t, stop2())

	got, times := readCounts(t, addr, "counts")
	want := expectedCounts(input)
	assert.Equal(t, want, got, "every window's count, as brute force counts it")
	for k, n := range times {
		assert.Equal(t, 1, n, "window %v written %d times", k, n)
	}
}

// TestGroupFencesAnOlderOwner: a member whose task's checkpoints are
// claimed by someone else (a newer owner the member does not know about)
// cannot store a checkpoint any more; its task ends without failing the
// member, and the store keeps the newer owner's state.
func TestGroupFencesAnOlderOwner(t *testing.T) {
	addr := newGroupCluster(t, 1)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	pc := client(t, addr)
	produce(t, pc, clickRecord("clicks", click{Page: "home", TS: 1000}))
	watch := &fenceWatch{TaskStore: store, fenced: make(chan error, 1)}
	g := groupOf(addr, watch)
	stop, done := runGroup(g)
	defer stop()
	eventually(t, "the member checkpoints", func() bool { return committed(t, pc, "counters", "clicks")[0] == 1 })

	newer, err := store.Claim(context.Background(), "clicks-0")
	require.NoError(t, err)
	before, err := newer.Latest(context.Background())
	require.NoError(t, err)
	require.NotNil(t, before)
	produce(t, pc, clickRecord("clicks", click{Page: "home", TS: 2000}))
	// The older owner's next checkpoint is refused: its task ends.
	select {
	case err := <-watch.fenced:
		assert.ErrorIs(t, err, stream.ErrFenced)
	case <-time.After(30 * time.Second):
		t.Fatal("the older owner never tried to checkpoint")
	}
	after, err := newer.Latest(context.Background())
	require.NoError(t, err)
	assert.Equal(t, before.ID, after.ID, "the older owner wrote a checkpoint after the newer claim")
	select {
	case err := <-done:
		t.Fatalf("a fenced task failed the member: %v", err)
	default:
	}
	require.NoError(t, newer.Save(context.Background(), &stream.Checkpoint{ID: before.ID + 1, States: before.States}),
		"the newer owner writes")
	require.NoError(t, stop())
}

func TestGroupFailsFast(t *testing.T) {
	addr := newGroupCluster(t, 1)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	cases := []struct {
		name string
		g    *kafka.Group[click]
		want error
	}{
		{"missing topic", kafka.NewGroup("g", "nope", decodeClick, store, buildCounts(addr, "counts"),
			kafka.SourceOptions(kafka.Brokers(addr)), kafka.ConnectTimeout(5*time.Second)), kafka.ErrNoTopic},
		{"unreachable brokers", kafka.NewGroup("g", "clicks", decodeClick, store, buildCounts(addr, "counts"),
			kafka.SourceOptions(kafka.Brokers("127.0.0.1:1")), kafka.ConnectTimeout(500*time.Millisecond)), kafka.ErrUnreachable},
		{"no brokers", kafka.NewGroup("g", "clicks", decodeClick, store, buildCounts(addr, "counts")), stream.ErrInvalid},
		{"a group option on a task source", kafka.NewGroup("g", "clicks", decodeClick, store, buildCounts(addr, "counts"),
			kafka.SourceOptions(kafka.Brokers(addr), kafka.ConsumerGroup("x", "clicks"))), stream.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.g.Run(context.Background())
			require.ErrorIs(t, err, tc.want)
			assert.Less(t, time.Since(start), 10*time.Second, "bounded time")
		})
	}
}

// TestGroupRefusesInputNotKeyedByThePipelinesKey: a record in a partition
// its pipeline key does not belong to fails the run with a clear error.
func TestGroupRefusesInputNotKeyedByThePipelinesKey(t *testing.T) {
	addr := newGroupCluster(t, 2)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	page := pageFor("p", 0, 2)
	b, _ := json.Marshal(click{Page: page, TS: 1})
	produce(t, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		&kgo.Record{Topic: "clicks", Partition: 1, Key: []byte("not-the-page"), Value: b})
	g := groupOf(addr, store, kafka.SourceOptions(kafka.ClientOptions()))
	err = g.Run(context.Background())
	require.ErrorIs(t, err, kafka.ErrNotCoPartitioned)
	assert.Contains(t, err.Error(), "co-partition")
	var oe *stream.OperatorError
	assert.True(t, errors.As(err, &oe), "the error names the source: %v", err)
}

// endsOf returns the end offsets of topic's partitions.
func endsOf(t *testing.T, cl *kgo.Client, topic string, parts int) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(parts) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	ends := map[int32]int64{}
	for _, tt := range resp.Topics {
		for _, p := range tt.Partitions {
			require.NoError(t, kerr.ErrorForCode(p.ErrorCode))
			ends[p.Partition] = p.Offset
		}
	}
	require.Len(t, ends, parts)
	return ends
}

// fenceWatch is a TaskStore that reports every Save refused as fenced.
type fenceWatch struct {
	kafka.TaskStore
	fenced chan error
}

func (f *fenceWatch) Claim(ctx context.Context, task string) (stream.CheckpointStore, error) {
	s, err := f.TaskStore.Claim(ctx, task)
	if err != nil {
		return nil, err
	}
	return &fenceWatchStore{s, f.fenced}, nil
}

type fenceWatchStore struct {
	stream.CheckpointStore
	fenced chan error
}

func (f *fenceWatchStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	err := f.CheckpointStore.Save(ctx, cp)
	if errors.Is(err, stream.ErrFenced) {
		select {
		case f.fenced <- err:
		default:
		}
	}
	return err
}

// TestGroupFailsOnAGroupErrorThatLasts: a session timeout the broker
// refuses fails the run instead of waiting for an assignment for ever.
func TestGroupFailsOnAGroupErrorThatLasts(t *testing.T) {
	addr := newGroupCluster(t, 1)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	g := groupOf(addr, store, kafka.GroupClientOptions(kgo.SessionTimeout(time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = g.Run(ctx)
	require.ErrorIs(t, err, kerr.InvalidSessionTimeout)
}

// logWatch is a slog handler that reports the messages it sees.
type logWatch struct {
	msgs chan string
}

func (l *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (l *logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case l.msgs <- r.Message:
	default:
	}
	return nil
}
func (l *logWatch) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logWatch) WithGroup(string) slog.Handler      { return l }

// TestGroupDoesNotExitWhileAPartitionWaits: with ExitWhenDone, a member
// whose own partitions are done keeps running while another member (one
// that holds its partition and processes nothing, as a dead one does until
// its session times out) leaves the group's position short of the end; it
// takes the partition over when that member goes, finishes it, and exits.
func TestGroupDoesNotExitWhileAPartitionWaits(t *testing.T) {
	addr := newGroupCluster(t, 2)
	store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
	require.NoError(t, err)
	pc := client(t, addr)
	var recs []*kgo.Record
	for p := range int32(2) {
		for i := range 20 {
			recs = append(recs, clickRecord("clicks", click{Page: pageFor("page", p, 2), TS: int64(1000 * i)}))
		}
	}
	produce(t, pc, recs...)

	// The stalled member: in the group, holding a partition, never
	// committing.
	assigned := make(chan struct{}, 1)
	stalled := client(t, addr, kgo.ConsumerGroup("counters"), kgo.ConsumeTopics("clicks"), kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.RoundRobinBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m["clicks"]) > 0 {
				select {
				case assigned <- struct{}{}:
				default:
				}
			}
		}))
	stalled.PauseFetchTopics("clicks")
	go stalled.PollFetches(context.Background()) // joins the group
	<-assigned

	watch := &logWatch{msgs: make(chan string, 64)}
	g := groupOf(addr, store, kafka.ExitWhenDone(50*time.Millisecond), kafka.GroupLogger(slog.New(watch)),
		kafka.GroupClientOptions(kgo.Balancers(kgo.RoundRobinBalancer())))
	stop, done := runGroup(g)
	defer stop()
	eventually(t, "the member gets a partition", func() bool { return len(g.Assigned()) == 1 })
	mine := g.Assigned()[0]
	eventually(t, "the member's own partition is done", func() bool { return committed(t, pc, "counters", "clicks")[mine] == 20 })
	// It checks again and again, and finds the other partition behind.
	for n := 0; n < 10; {
		select {
		case m := <-watch.msgs:
			if m == "kafka group: not done: partitions behind their end" {
				n++
			}
		case err := <-done:
			t.Fatalf("the member exited while a partition of the group was not done: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the member stopped checking")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the member exited while a partition of the group was not done: %v", err)
	default:
	}
	stalled.Close() // leaves the group: its partition moves to the member
	select {
	case err := <-done:
		require.NoError(t, err, "the member exits once the whole group is done")
	case <-time.After(60 * time.Second):
		t.Fatal("the member did not exit once the group was done")
	}
	c := committed(t, pc, "counters", "clicks")
	assert.Equal(t, map[int32]int64{0: 20, 1: 20}, c)
}

// TestGroupSurvivesRefusedCommits: the group's commits only mirror the
// task store, so a broker that refuses or times out every commit does not
// stop a healthy member: its tasks go on checkpointing, and the output is
// complete and exactly once.
func TestGroupSurvivesRefusedCommits(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "clicks"), kfake.SeedTopics(1, "counts"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	refused := make(chan struct{}, 1)
	codes := []int16{kerr.RebalanceInProgress.Code, kerr.RequestTimedOut.Code, kerr.CoordinatorNotAvailable.Code}
	n := 0
	c.ControlKey(kmsg.OffsetCommit.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		code := codes[n%len(codes)]
		n++
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		select {
		case refused <- struct{}{}:
		default:
		}
		return resp, nil, true
	})
	dir := t.TempDir()
	store, err := kafka.NewDirTaskStore(dir, 2)
	require.NoError(t, err)
	input := genClicks([]string{"a", "b", "c"}, 200, 0)
	var recs []*kgo.Record
	for _, cl := range append(input, click{Page: "end", TS: time.Hour.Milliseconds()}) {
		recs = append(recs, clickRecord("clicks", cl))
	}
	produce(t, client(t, addr), recs...)
	g := groupOf(addr, store)
	stop, done := runGroup(g)
	defer stop()
	<-refused
	// The task keeps checkpointing until it has stored the whole input.
	ds := &stream.DirStore{Dir: dir + "/clicks-0"}
	eventually(t, "the task stores checkpoints covering the input", func() bool {
		cp, err := ds.Latest(context.Background())
		if err != nil || cp == nil {
			return false
		}
		<-refused // and commits are refused meanwhile
		return cp.ID >= 10
	})
	select {
	case err := <-done:
		t.Fatalf("refused commits ended the member: %v", err)
	default:
	}
	require.NoError(t, stop())
	got, times := readCounts(t, addr, "counts")
	assert.Equal(t, expectedCounts(input), got)
	for k, n := range times {
		assert.Equal(t, 1, n, "window %v written %d times", k, n)
	}
}
