package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

// staticWorker runs a pipeline consuming topic in group as the static
// member id, into sink, until its context is cancelled.
type staticWorker struct {
	src    *kafka.Source[play]
	cancel context.CancelFunc
	errc   chan error
}

func startStatic(t *testing.T, addr, group, topic, id string, sink *countSink, l kafka.PartitionListener) *staticWorker {
	t.Helper()
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup(group, topic), kafka.InstanceID(id),
		kafka.ClientOptions(kgo.SessionTimeout(staticSession), kgo.HeartbeatInterval(100*time.Millisecond)),
		kafka.OnPartitions(l))
	p := stream.New()
	stream.To(kafka.Decode(stream.From(p, src)).Stream, sink)
	ctx, cancel := context.WithCancel(context.Background())
	w := &staticWorker{src: src, cancel: cancel, errc: make(chan error, 1)}
	go func() { w.errc <- p.Run(ctx) }()
	return w
}

func (w *staticWorker) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	if err := <-w.errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func (w *staticWorker) partitions(topic string) []int32 {
	ps := w.src.Assigned()[topic]
	slices.Sort(ps)
	return ps
}

// moves counts the assignments and revocations a source is told of, and
// records every partition it was ever given.
type moves struct {
	assigned, revoked, lost atomic.Int64
	mu                      sync.Mutex
	given                   []int32
}

func (m *moves) PartitionsAssigned(_ context.Context, start map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	m.assigned.Add(1)
	m.mu.Lock()
	for _, ps := range start {
		for p := range ps {
			m.given = append(m.given, p)
		}
	}
	m.mu.Unlock()
	return start, nil
}

// givenSince returns the partitions assigned after the first n of them.
func (m *moves) givenSince(n int) []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.given[n:])
}
func (m *moves) PartitionsRevoked(context.Context, map[string][]int32) error {
	m.revoked.Add(1)
	return nil
}
func (m *moves) PartitionsLost(context.Context, map[string][]int32) error {
	m.lost.Add(1)
	return nil
}

// staticSession is the group session timeout: much longer than the test
// takes, so a rejoin that waited for it would time the test out.
const staticSession = 2 * time.Minute

// TestStaticMemberRejoinsAtOnce: a worker with an InstanceID that stops
// without leaving the group (as a crashed or restarted process does: a
// static member does not leave when it closes) is replaced by a new
// process with the same id, which takes back the same partitions at once —
// without the session timeout, and without a rebalance: the other worker
// keeps its partitions throughout.
func TestStaticMemberRejoinsAtOnce(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 4, "static")
	pc := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	send := func(from, to int) {
		var recs []*kgo.Record
		for seq := from; seq < to; seq++ {
			recs = append(recs, playRecord("static", int32(seq%4), play{User: fmt.Sprintf("u%d", seq%4), Seq: seq, TS: epoch.UnixMilli()}))
		}
		produce(t, pc, recs...)
	}
	send(0, 40)
	sinkA, sinkB := newCountSink(), newCountSink()
	var mb moves
	a := startStatic(t, addr, "gstatic", "static", "worker-a", sinkA, nil)
	b := startStatic(t, addr, "gstatic", "static", "worker-b", sinkB, &mb)
	defer b.stop(t)
	var pa, pb []int32
	eventually(t, "both workers own partitions, all four between them", func() bool {
		pa, pb = a.partitions("static"), b.partitions("static")
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == 4
	})
	both := func(counts map[int]int, seqs ...int) bool {
		for _, s := range seqs {
			if counts[s] == 0 {
				return false
			}
		}
		return true
	}
	seqsOf := func(ps []int32, from, to int) []int {
		var out []int
		for seq := from; seq < to; seq++ {
			if slices.Contains(ps, int32(seq%4)) {
				out = append(out, seq)
			}
		}
		return out
	}
	// Between them they read what is there (the first owner of all four
	// commits on revoke, so the records are read once).
	total := func() int {
		ca, _ := sinkA.state()
		cb, _ := sinkB.state()
		n := 0
		for seq := range 40 {
			if ca[seq]+cb[seq] > 0 {
				n++
			}
		}
		return n
	}
	eventually(t, "the first records read", func() bool { return total() == 40 })
	assignedBefore, revokedBefore := mb.assigned.Load(), mb.revoked.Load()
	mb.mu.Lock()
	givenBefore := len(mb.given)
	mb.mu.Unlock()

	members := groupMembers(t, pc, "gstatic")
	require.Len(t, members, 2)
	a.stop(t) // no LeaveGroup: the group keeps worker-a's assignment
	assert.Equal(t, members, groupMembers(t, pc, "gstatic"), "worker a is still a member after it stopped")
	send(40, 80)
	sinkB.tl.waitFor(t, "worker b goes on", func(c map[int]int, _ int) bool { return both(c, seqsOf(pb, 40, 80)...) })
	assert.Equal(t, pb, b.partitions("static"), "no rebalance: worker a is still a member")

	started := time.Now()
	sinkA2 := newCountSink()
	a2 := startStatic(t, addr, "gstatic", "static", "worker-a", sinkA2, nil)
	defer a2.stop(t)
	sinkA2.tl.waitFor(t, "the restarted worker reads its partitions' new records", func(c map[int]int, _ int) bool {
		return both(c, seqsOf(pa, 40, 80)...)
	})
	took := time.Since(started)
	now := groupMembers(t, pc, "gstatic")
	assert.Equal(t, members["worker-b"], now["worker-b"])
	assert.Contains(t, now, "worker-a")
	assert.NotEqual(t, members["worker-a"], now["worker-a"], "the restarted worker replaced the old member")
	assert.Equal(t, pa, a2.partitions("static"), "the same partitions back")
	assert.Equal(t, pb, b.partitions("static"), "the other worker kept its partitions")
	assert.Less(t, took, staticSession/4, "rejoined without waiting for the session timeout")
	// Worker b lost nothing, was given none of worker a's partitions, and
	// never read a record of them after the first batch. Usually it is told
	// of no change at all; under a loaded CI run the coordinator has been
	// seen to run one cooperative rebalance around the replacement, which
	// calls PartitionsAssigned with nothing new — allowed, and logged.
	if n := mb.assigned.Load() - assignedBefore; n > 0 {
		t.Logf("worker b: %d assignment callbacks during the replacement (given %v)", n, mb.givenSince(givenBefore))
	}
	for _, p := range mb.givenSince(givenBefore) {
		assert.NotContains(t, pa, p, "worker b was given worker a's partition %d", p)
	}
	assert.Equal(t, revokedBefore, mb.revoked.Load(), "worker b: nothing revoked")
	assert.Zero(t, mb.lost.Load())
	countsB, _ := sinkB.state()
	for _, seq := range seqsOf(pa, 40, 80) {
		assert.Zero(t, countsB[seq], "seq %d of worker a's partitions went to worker b", seq)
	}
	counts, _ := sinkA2.state()
	for seq := range counts {
		assert.Contains(t, pa, int32(seq%4), "seq %d: only worker a's partitions", seq)
	}
}

// groupMembers returns the group's members: member id by instance id.
func groupMembers(t *testing.T, cl *kgo.Client, group string) map[string]string {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, resp.Groups, 1)
	g := resp.Groups[0]
	require.NoError(t, kerr.ErrorForCode(g.ErrorCode))
	out := map[string]string{}
	for _, m := range g.Members {
		id := "(dynamic)"
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out[id] = m.MemberID
	}
	t.Logf("group %s: state %s, protocol %s, members %v", group, g.State, g.ProtocolType, out)
	return out
}
