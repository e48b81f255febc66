package prom_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/prom"
	"github.com/brook-streams/brook/stream/streamtest"
)

// memStore keeps the latest checkpoint in memory. Each Save moves the fake
// clock by took (so a checkpoint has a known duration), and fails with err
// if set.
type memStore struct {
	clk  *streamtest.Clock
	took time.Duration
	err  error

	mu     sync.Mutex
	latest *stream.Checkpoint
}

func (s *memStore) Save(_ context.Context, cp *stream.Checkpoint) error {
	s.clk.Advance(s.took)
	if s.err != nil {
		return s.err
	}
	s.mu.Lock()
	s.latest = cp
	s.mu.Unlock()
	return nil
}

func (s *memStore) Latest(context.Context) (*stream.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest, nil
}

// notified passes the checkpoint figures to prom and then tells the test.
type notified struct {
	*prom.Metrics
	done, failed chan int64
}

func (n *notified) CheckpointCompleted(id int64, d time.Duration, bytes int) {
	n.Metrics.CheckpointCompleted(id, d, bytes)
	n.done <- id
}

func (n *notified) CheckpointFailed(id int64) {
	n.Metrics.CheckpointFailed(id)
	n.failed <- id
}

func recv(t *testing.T, ch <-chan int64, what string) int64 {
	t.Helper()
	select {
	case id := <-ch:
		return id
	case <-time.After(20 * time.Second):
		t.Fatalf("no checkpoint %s", what)
		return 0
	}
}

func ints(n int) []stream.Record[int] {
	recs := make([]stream.Record[int], n)
	for i := range recs {
		recs[i] = stream.At(i, stream.Time(i))
	}
	return recs
}

func TestCheckpointMetrics(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := streamtest.NewClock(start)
	reg := prometheus.NewRegistry()
	pm, err := prom.New(reg, prom.Clock(clk))
	require.NoError(t, err)
	m := &notified{Metrics: pm, done: make(chan int64, 16), failed: make(chan int64, 16)}

	// Before any checkpoint: counters at zero, no age.
	s := gather(t, reg)
	assert.Equal(t, 0.0, s["brook_checkpoints_completed_total"]["/"])
	assert.NotContains(t, s, "brook_checkpoint_last_age_seconds")

	store := &memStore{clk: clk, took: 2 * time.Second}
	src := streamtest.NewReplay(ints(50))
	src.Hold = true
	p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store, 10*time.Second), stream.WithMetrics(m),
		stream.WithParallelism(2))
	k := stream.KeyBy(stream.From(p, src, stream.Name("src")), func(v int) int { return v % 4 }, stream.Name("by"))
	stream.To(k.Stream, stream.Discard[int](), stream.Name("out"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	for want := int64(1); want <= 3; want++ {
		require.NoError(t, clk.WaitForTimers(ctx, 1))
		clk.Advance(10 * time.Second)
		require.Equal(t, want, recv(t, m.done, "completed"))
	}
	// Scraped 5 s after checkpoint 3 completed: the age is computed now.
	clk.Advance(5 * time.Second)
	cp, _ := store.Latest(ctx)
	require.NotNil(t, cp)
	size := 0
	for k, v := range cp.States {
		size += len(k) + len(v)
	}
	s = gather(t, reg)
	assert.Equal(t, 3.0, s["brook_checkpoints_completed_total"]["/"])
	assert.Equal(t, 0.0, s["brook_checkpoints_failed_total"]["/"])
	assert.Equal(t, 3.0, s["brook_checkpoint_last_id"]["/"])
	assert.Equal(t, 2.0, s["brook_checkpoint_last_duration_seconds"]["/"], "the store took 2 s")
	assert.Equal(t, float64(size), s["brook_checkpoint_last_size_bytes"]["/"])
	assert.Equal(t, 5.0, s["brook_checkpoint_last_age_seconds"]["/"])
	clk.Advance(time.Second)
	assert.Equal(t, 6.0, gather(t, reg)["brook_checkpoint_last_age_seconds"]["/"], "the age grows between scrapes")
	// The sink behind the two keyed instances aligned every barrier over
	// both (instantly, by the fake clock).
	assert.Contains(t, s["brook_checkpoint_alignment_seconds"], "out.merge/0")
	assert.Equal(t, 0.0, s["brook_checkpoint_alignment_seconds_total"]["out.merge/0"])
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	// A second pipeline on the same Metrics whose store fails.
	store2 := &memStore{clk: clk, err: errors.New("disk full")}
	p2 := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store2, 10*time.Second), stream.WithMetrics(m))
	src2 := streamtest.NewReplay(ints(5))
	src2.Hold = true
	stream.To(stream.From(p2, src2), stream.Discard[int]())
	go func() { errc <- p2.Run(context.Background()) }()
	require.NoError(t, clk.WaitForTimers(context.Background(), 1))
	clk.Advance(10 * time.Second)
	assert.Equal(t, int64(1), recv(t, m.failed, "failed"), "the first checkpoint into the failing store")
	require.Error(t, <-errc)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP brook_checkpoints_completed_total Checkpoints stored and committed.
# TYPE brook_checkpoints_completed_total counter
brook_checkpoints_completed_total 3
# HELP brook_checkpoints_failed_total Checkpoints that could not be stored or committed.
# TYPE brook_checkpoints_failed_total counter
brook_checkpoints_failed_total 1
`), "brook_checkpoints_completed_total", "brook_checkpoints_failed_total"))
}

func TestAlignmentMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	require.NoError(t, err)
	am, ok := m.Operator("join", 1).(stream.AlignmentMetrics)
	require.True(t, ok, "prom's operator handles take alignment times")
	am.Alignment(250 * time.Millisecond)
	am.Alignment(time.Second)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP brook_checkpoint_alignment_seconds Time the last checkpoint barrier took to align over the inputs of an exchange-fed operator instance.
# TYPE brook_checkpoint_alignment_seconds gauge
brook_checkpoint_alignment_seconds{instance="1",operator="join"} 1
# HELP brook_checkpoint_alignment_seconds_total Time an exchange-fed operator instance spent aligning checkpoint barriers, inputs held back meanwhile.
# TYPE brook_checkpoint_alignment_seconds_total counter
brook_checkpoint_alignment_seconds_total{instance="1",operator="join"} 1.25
`), "brook_checkpoint_alignment_seconds", "brook_checkpoint_alignment_seconds_total"))
}
