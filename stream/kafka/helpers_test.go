package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// play is the value the tests send through Kafka.
type play struct {
	User string `json:"user"`
	Seq  int    `json:"seq"`
	TS   int64  `json:"ts"` // unix milliseconds
}

func (p play) At() time.Time { return time.UnixMilli(p.TS) }

func decodePlay(r *kgo.Record) (play, error) {
	var p play
	if err := json.Unmarshal(r.Value, &p); err != nil {
		return play{}, err
	}
	if p.User == "" {
		return play{}, errors.New("missing user")
	}
	return p, nil
}

// cluster starts an in-process Kafka (kfake) with topics of partitions
// partitions each, closed when the test ends.
func cluster(t testing.TB, partitions int32, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// client returns a plain kgo client, closed when the test ends.
func client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// produce writes records synchronously with a plain client.
func produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

func playRecord(topic string, partition int32, p play) *kgo.Record {
	b, _ := json.Marshal(p)
	return &kgo.Record{Topic: topic, Partition: partition, Key: []byte(p.User), Value: b, Timestamp: p.At()}
}

// committed returns the group's committed offsets for topic.
func committed(t testing.TB, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group // no topics: all of them
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Version 7 names topics (v10 uses topic IDs): an old client speaks it.
	old := client(t, cl.OptValue(kgo.SeedBrokers).([]string)[0], kgo.MaxVersions(kversion.V2_8_0()))
	resp, err := req.RequestWith(ctx, old)
	require.NoError(t, err)
	out := map[int32]int64{}
	for _, tt := range resp.Topics {
		if tt.Topic != topic {
			continue
		}
		for _, p := range tt.Partitions {
			if p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out
}

// tally counts the values a pipeline delivered, safely across goroutines,
// and signals when a predicate on the counts holds.
type tally struct {
	mu     sync.Mutex
	counts map[int]int // seq -> deliveries
	total  int
	change chan struct{}
}

func newTally() *tally { return &tally{counts: map[int]int{}, change: make(chan struct{})} }

func (t *tally) add(seq int) {
	t.mu.Lock()
	t.counts[seq]++
	t.total++
	close(t.change)
	t.change = make(chan struct{})
	t.mu.Unlock()
}

// waitFor blocks until cond holds over the counts, or fails the test.
func (t *tally) waitFor(tb testing.TB, what string, cond func(counts map[int]int, total int) bool) {
	tb.Helper()
	deadline := time.After(60 * time.Second)
	for {
		t.mu.Lock()
		ok := cond(t.counts, t.total)
		ch := t.change
		t.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (t *tally) snapshot() (map[int]int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := make(map[int]int, len(t.counts))
	for k, v := range t.counts {
		m[k] = v
	}
	return m, t.total
}

// eventually polls cond until it holds (a server's state, not a sleep).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kcat returns the path of the kcat binary, skipping the test when it is
// absent and CI is unset (under CI a missing kcat fails the test).
func kcat(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("kcat not found under CI: %v", err)
	}
	t.Skipf("kcat not installed: %v", err)
	return ""
}

func seqsUpTo(n int) func(map[int]int, int) bool {
	return func(counts map[int]int, _ int) bool {
		for i := range n {
			if counts[i] == 0 {
				return false
			}
		}
		return true
	}
}
