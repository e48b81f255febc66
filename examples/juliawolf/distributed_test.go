package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/brook-streams/brook/window"
)

// startTestRedis starts a private redis-server on a free loopback port,
// stopped when the test ends, and returns its address. Without the binary
// it skips, unless CI is set, where that is a failure.
func startTestRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr == nil {
			bin, err = "/usr/bin/redis-server", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server not found under CI: %v", err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
	for range 5 { // a freed port may be taken before redis binds it
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(tb, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no")
		require.NoError(tb, cmd.Start())
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		ok := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := rdb.Ping(ctx).Err()
			cancel()
			if err == nil {
				ok = true
				break
			}
			select {
			case <-exited:
				deadline = time.Time{}
			case <-time.After(10 * time.Millisecond):
			}
		}
		rdb.Close()
		if ok {
			tb.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return addr
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	tb.Fatal("redis-server did not come up")
	return ""
}

// startKafka starts an in-process Kafka (kfake) with one topic.
func startKafka(tb testing.TB, topic string, partitions int32) string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// writeEventFile writes generated plays with extra late plays, malformed
// lines and unknown tracks mixed in, and returns the lines.
func writeEventFile(tb testing.TB, path string, events int64, seed uint64) []string {
	tb.Helper()
	var lines []string
	i := 0
	for p := range NewGenerator(DefaultCatalog(), events, seed).All() {
		i++
		switch {
		case i%101 == 0:
			lines = append(lines, `{"event_id":"e-broken","user_id":`)
		case i%211 == 0:
			lines = append(lines, "")
		case i%127 == 0:
			p.TrackID = "jw-404"
		case i%89 == 0:
			p.EventTime = p.EventTime.Add(-7 * time.Minute) // synced late
		}
		lines = append(lines, string(AppendJSON(nil, p)))
	}
	require.NoError(tb, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return lines
}

// testSettings are the event-time settings of the tests' runs.
var testSettings = eventSettings{window: time.Minute, maxDelay: 5 * time.Second, lateness: 2 * time.Second}

// singleProcess is the single-process snapshot of the lines, by the
// reference engine.
func singleProcess(t testing.TB, lines []string) *Snapshot {
	t.Helper()
	src := NewLineSource(strings.NewReader(strings.Join(lines, "\n")+"\n"), nil)
	snap, err := referenceEngine(context.Background(), Config{
		Window: testSettings.window, MaxDelay: testSettings.maxDelay, AllowedLateness: testSettings.lateness, Parallel: 1,
	}, src, DefaultCatalog())
	require.NoError(t, err)
	snap.MaxDelay, snap.AllowedLateness = testSettings.maxDelay, testSettings.lateness
	return snap
}

// distCluster is a kfake topic and a redis-server for one test.
type distCluster struct {
	brokers, redis, topic, prefix string
	rdb                           *redis.Client
	stamper                       *stamper // the producer's watermark, across produce calls
	produced                      int64
}

func newCluster(t testing.TB, partitions int32) *distCluster {
	c := &distCluster{topic: "plays", prefix: "jw"}
	c.brokers = startKafka(t, c.topic, partitions)
	c.redis = startTestRedis(t)
	c.rdb = redis.NewClient(&redis.Options{Addr: c.redis})
	t.Cleanup(func() { c.rdb.Close() })
	c.stamper = newStamper(DefaultCatalog(), testSettings.maxDelay)
	return c
}

// produce publishes lines, continuing the watermark of earlier calls.
func (c *distCluster) produce(t testing.TB, lines []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "part.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	st, err := produceRun(context.Background(), produceConfig{
		brokers: []string{c.brokers}, topic: c.topic, input: path, ev: testSettings, cat: DefaultCatalog(), stamper: c.stamper,
	})
	require.NoError(t, err)
	require.Equal(t, int64(len(lines)), st.valid+st.invalid)
	c.produced += int64(len(lines))
}

// testWorker is a running worker.
type testWorker struct {
	store  *partitionStore
	stop   chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func (c *distCluster) startWorker(t testing.TB, publishEach time.Duration, metrics *metricsServer) *testWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWorker{stop: make(chan struct{}), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	cfg := workerConfig{
		brokers: []string{c.brokers}, topic: c.topic, group: "workers", prefix: c.prefix, redisAddr: c.redis,
		publishEach: publishEach, events: testSettings, cat: DefaultCatalog(), metrics: metrics,
		clientOpts: []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)},
		maxPoll:    200,
		observe:    func(s *partitionStore) { w.store = s; close(ready) },
	}
	go func() {
		_, err := workerRun(ctx, w.stop, cfg)
		w.done <- err
	}()
	<-ready
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			t.Error("worker did not stop")
		}
	})
	return w
}

// stopGracefully stops a worker as SIGTERM does and waits for it.
func (w *testWorker) stopGracefully(t testing.TB) {
	t.Helper()
	close(w.stop)
	require.NoError(t, <-w.done)
	w.done <- nil // for the cleanup
}

// kill stops a worker at once, publishing nothing more (a crash).
func (w *testWorker) kill(t testing.TB) {
	t.Helper()
	w.cancel()
	require.ErrorIs(t, <-w.done, context.Canceled)
	w.done <- nil
}

func (w *testWorker) owned() int {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	return len(w.store.parts)
}

// storedOffsets returns the sum of the offsets stored with the partitions'
// state: the number of records the stored state covers.
func (c *distCluster) storedOffsets(t testing.TB) int64 {
	t.Helper()
	ctx := context.Background()
	keys, err := c.rdb.SMembers(ctx, partitionsKey(c.prefix)).Result()
	require.NoError(t, err)
	var sum int64
	for _, k := range keys {
		v, err := c.rdb.HGet(ctx, k, fieldOffset).Int64()
		if errors.Is(err, redis.Nil) {
			continue
		}
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// waitFor polls cond (a server's state or a counter) until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *distCluster) report(t testing.TB) *Snapshot {
	t.Helper()
	snap, parts, err := reportSnapshot(context.Background(), c.rdb, c.prefix, DefaultCatalog())
	require.NoError(t, err)
	require.Positive(t, parts)
	return snap
}

// requireSameSnapshot compares the distributed answer with the single
// process's, field by field, run aside.
func requireSameSnapshot(t *testing.T, want, got *Snapshot) {
	t.Helper()
	require.Positive(t, want.EventsLate, "the input has late plays")
	require.Positive(t, want.EventsInvalid, "the input has invalid lines")
	assert.Positive(t, got.Run.WallSeconds)
	snapshotsEqual(t, want, got)
}

// TestDistributedEqualsSingleProcess: produce → one worker, a second one
// joining mid-stream (a rebalance) → report equals the single-process
// snapshot, windows, late plays and sketches included.
func TestDistributedEqualsSingleProcess(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 6000, 31)
	want := singleProcess(t, lines)
	c := newCluster(t, 4)
	half := len(lines) / 2

	c.produce(t, lines[:half])
	a := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the first half applied", func() bool { return a.store.applied.Load() >= int64(half) })
	b := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the rebalance", func() bool { return b.owned() > 0 && a.owned() > 0 })
	c.produce(t, lines[half:])
	waitFor(t, "every record in the stored state", func() bool { return c.storedOffsets(t) == c.produced })
	a.stopGracefully(t)
	b.stopGracefully(t)

	assert.Equal(t, c.produced, a.store.applied.Load()+b.store.applied.Load(), "each record applied once")
	assert.Equal(t, c.produced, c.committedOffsets(t, "workers"), "the group's commits follow the published state")
	requireSameSnapshot(t, want, c.report(t))
}

// committedOffsets returns the sum of the group's committed offsets.
func (c *distCluster) committedOffsets(t testing.TB, group string) int64 {
	t.Helper()
	// Version 7 of OffsetFetch names topics (v10 uses topic IDs).
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.MaxVersions(kversion.V2_8_0()))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	var sum int64
	for _, tt := range resp.Topics {
		for _, p := range tt.Partitions {
			if tt.Topic == c.topic && p.Offset > 0 {
				sum += p.Offset
			}
		}
	}
	return sum
}

// TestWorkerKilledAndRestarted: a worker that publishes rarely is killed
// (nothing more published) after applying records; the other takes its
// partitions over from the stored state and offsets, re-reading what was
// not published; a restarted worker takes partitions back. The report is
// still the single-process snapshot: nothing lost, nothing counted twice.
func TestWorkerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 6000, 47)
	want := singleProcess(t, lines)
	c := newCluster(t, 4)
	half := len(lines) / 2

	c.produce(t, lines[:half])
	a := c.startWorker(t, time.Hour, nil) // publishes only when partitions leave it
	waitFor(t, "the first half applied", func() bool { return a.store.applied.Load() >= int64(half) })
	b := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the rebalance", func() bool { return b.owned() > 0 && a.owned() > 0 })
	c.produce(t, lines[half:])
	waitFor(t, "every record applied", func() bool {
		return a.store.applied.Load()+b.store.applied.Load() >= c.produced
	})
	require.Less(t, c.storedOffsets(t), c.produced, "the killed worker has unpublished records")
	a.kill(t)

	waitFor(t, "the survivor owning everything", func() bool { return b.owned() == 4 })
	a2 := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "every record in the stored state", func() bool { return c.storedOffsets(t) == c.produced })
	a2.stopGracefully(t)
	b.stopGracefully(t)
	assert.Greater(t, a.store.applied.Load()+b.store.applied.Load()+a2.store.applied.Load(), c.produced,
		"records the killed worker had not published were applied again")
	requireSameSnapshot(t, want, c.report(t))
}

// TestFencedWorkerCannotOverwrite: a worker whose partition was taken over
// (a newer epoch) fails its next publish instead of overwriting the state.
func TestFencedWorkerCannotOverwrite(t *testing.T) {
	t.Parallel()
	addr := startTestRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	settings := newDistSettings(testSettings, DefaultCatalog())
	old, _, err := claimPartition(ctx, rdb, "f", "t", 0, settings)
	require.NoError(t, err)
	require.NoError(t, publishPartition(ctx, rdb, partitionKey("f", "t", 0), old, []any{fieldOffset, "10"}))
	newer, fields, err := claimPartition(ctx, rdb, "f", "t", 0, settings)
	require.NoError(t, err)
	assert.Equal(t, old+1, newer)
	assert.Equal(t, "10", fields[fieldOffset], "the new owner loads the stored offset")
	err = publishPartition(ctx, rdb, partitionKey("f", "t", 0), old, []any{fieldOffset, "20"})
	require.ErrorIs(t, err, errFenced)
	v, err := rdb.HGet(ctx, partitionKey("f", "t", 0), fieldOffset).Result()
	require.NoError(t, err)
	assert.Equal(t, "10", v)

	other := testSettings
	other.window = 2 * time.Minute
	_, _, err = claimPartition(ctx, rdb, "f", "t", 0, newDistSettings(other, DefaultCatalog()))
	require.ErrorContains(t, err, "other settings")
}

// TestDistributedCommands runs the three subcommands as the command line
// does (produce, worker with -idle-exit, report -json) and compares the
// report with `juliawolf -input` on the same file.
func TestDistributedCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "plays.jsonl")
	writeEventFile(t, path, 3000, 5)
	c := newCluster(t, 3)
	flags := []string{"-window", "1m", "-max-delay", "5s", "-allowed-lateness", "2s"}

	single := runMain(t, "", append([]string{"-quiet", "-input", path, "-json", filepath.Join(dir, "single.json")}, flags...)...)
	require.Equal(t, 0, single.code, single.stderr)

	sub := func(args ...string) runResult {
		var stdout, stderr bytes.Buffer
		code, ok := runSubcommand(args, &stdout, &stderr)
		require.True(t, ok)
		return runResult{code, stdout.String(), stderr.String()}
	}
	res := sub(append([]string{"produce", "-brokers", c.brokers, "-topic", c.topic, "-input", path}, flags...)...)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Produced 3,0")

	var wg sync.WaitGroup
	results := make([]runResult, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stdout, stderr bytes.Buffer
			code := exitCode(runWorker(context.Background(), nil, append([]string{"-brokers", c.brokers, "-topic", c.topic,
				"-group", "cli", "-redis", c.redis, "-prefix", c.prefix, "-idle-exit", "1s"}, flags...), &stdout, &stderr), "worker", &stderr)
			results[i] = runResult{code, stdout.String(), stderr.String()}
		}()
	}
	wg.Wait()
	for _, r := range results {
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "Worker done")
	}

	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-json", filepath.Join(dir, "dist.json"))
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Merged the state of 3 partitions")
	assert.Contains(t, res.stdout, "Track Leaderboard")
	want, got := readSnapshot(t, filepath.Join(dir, "single.json")), readSnapshot(t, filepath.Join(dir, "dist.json"))
	require.Positive(t, want.EventsLate)
	snapshotsEqual(t, want, got)

	// Checked against Kafka: the stored offsets cover the topic's end.
	checked := filepath.Join(dir, "checked.json")
	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", c.topic, "-json", checked)
	require.Equal(t, 0, res.code, res.stderr)
	assert.NotContains(t, res.stderr, "partial")
	snapshotsEqual(t, want, readSnapshot(t, checked))
	// Unchecked, it says so.
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-json", "").stderr, "may be partial")
	// A partition whose stored state stops short of the end (its owner
	// died) makes the report fail loudly, and write nothing.
	rdb := c.rdb
	key := partitionKey(c.prefix, c.topic, 1)
	end, err := rdb.HGet(context.Background(), key, fieldOffset).Int64()
	require.NoError(t, err)
	require.NoError(t, rdb.HSet(context.Background(), key, fieldOffset, end-1).Err())
	partial := filepath.Join(dir, "partial.json")
	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", c.topic, "-json", partial)
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "partial: the stored state covers")
	assert.Contains(t, res.stderr, fmt.Sprintf("1 at %d of %d", end-1, end))
	assert.NoFileExists(t, partial)
	require.NoError(t, rdb.HSet(context.Background(), key, fieldOffset, end).Err())
	// Bounded-time failures: a missing topic, unreachable Kafka or Redis.
	res = sub("worker", "-brokers", c.brokers, "-topic", "nope", "-redis", c.redis, "-connect-timeout", "3s")
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "topic does not exist")
	assert.NotContains(t, res.stdout, "Worker done")
	res = sub("worker", "-brokers", "127.0.0.1:1", "-topic", c.topic, "-redis", c.redis, "-connect-timeout", "500ms")
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "unreachable")
	res = sub("worker", "-brokers", c.brokers, "-topic", c.topic, "-redis", "127.0.0.1:1", "-connect-timeout", "500ms")
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "redis 127.0.0.1:1 unreachable")
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", "nope").stderr, "topic does not exist")
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", "127.0.0.1:1", "-topic", c.topic, "-connect-timeout", "500ms").stderr, "unreachable")
	assert.Contains(t, sub("report", "-redis", "127.0.0.1:1", "-connect-timeout", "500ms").stderr, "redis 127.0.0.1:1 unreachable")

	// Usage errors exit 2; a report without state exits 1.
	assert.Equal(t, exitUsage, sub("worker", "-topic", "x").code)
	assert.Equal(t, exitUsage, sub("produce", "-brokers", c.brokers).code)
	assert.Equal(t, exitRun, sub("report", "-redis", c.redis, "-prefix", "nothing-here", "-json", "").code)
	_, ok := runSubcommand([]string{"-quiet"}, io.Discard, io.Discard)
	assert.False(t, ok, "flags are the default run")
}

// TestWorkerMetrics scrapes a running worker's /metrics and /healthz.
func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 2000, 8)
	want := singleProcess(t, lines)
	c := newCluster(t, 2)
	c.produce(t, lines)
	ms, err := startMetrics("127.0.0.1:0")
	require.NoError(t, err)
	defer func() { require.NoError(t, ms.Close()) }()
	w := c.startWorker(t, 50*time.Millisecond, ms)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ms.Addr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	metric := func(families map[string]*dto.MetricFamily, name, op string) float64 {
		f := families[name]
		if f == nil {
			return -1
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operator" && l.GetValue() == op {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	var families map[string]*dto.MetricFamily
	waitFor(t, "every record counted in /metrics", func() bool {
		code, body := get("/metrics")
		require.Equal(t, http.StatusOK, code)
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err = p.TextToMetricFamilies(strings.NewReader(body))
		require.NoError(t, err)
		return metric(families, "brook_records_in_total", "classify") == float64(len(lines))
	})
	assert.Equal(t, float64(want.EventsLate), metric(families, "brook_late_records_total", "classify"))
	assert.Equal(t, float64(want.EventsInvalid), metric(families, "brook_errors_total", "classify"))
	assert.Equal(t, float64(want.EventsProcessed), metric(families, "brook_records_in_total", "partition-state"))
	assert.Positive(t, metric(families, "brook_watermark_seconds", "classify"), "the watermark moved")
	w.stopGracefully(t)
}

// BenchmarkDistributed: the distributed pipeline (Kafka source → classify
// → per-partition state → Redis) on 300,000 generated plays in a 6-partition
// kfake topic, with 1, 2 and 3 workers in this process, from the first
// record to every partition's state published. The baseline consumes the
// same records with a bare kgo client and aggregates them in one loop,
// without Redis. The machine has 2 cores, shared by kfake, redis-server and
// the workers.
func BenchmarkDistributed(b *testing.B) {
	const events = 300_000
	lines := writeEventFile(b, filepath.Join(b.TempDir(), "plays.jsonl"), events, 3)
	c := newCluster(b, 6)
	c.produce(b, lines)
	n := int64(len(lines))

	b.Run("handwritten-kgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.ConsumeTopics(c.topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			require.NoError(b, err)
			cat := DefaultCatalog()
			windows := map[int64]trackSet{}
			late := newTrackSet(cat)
			var invalid int64
			for seen := int64(0); seen < n; {
				f := cl.PollFetches(context.Background())
				require.NoError(b, f.Err0())
				f.EachRecord(func(r *kgo.Record) {
					seen++
					w, err := decodeWire(r)
					ti, ok := cat.Index(w.Play.TrackID)
					if err != nil || !ok {
						invalid++
						return
					}
					start, end := windowOf(w.Play.EventTime.UnixNano(), int64(testSettings.window))
					if w.WM >= satAdd(end-1, int64(testSettings.lateness)) {
						late.at(ti).Add(w.Play, cat.Track(ti).DurationMs)
						return
					}
					ts := windows[start]
					if ts == nil {
						ts = newTrackSet(cat)
						windows[start] = ts
					}
					ts.at(ti).Add(w.Play, cat.Track(ti).DurationMs)
				})
			}
			cl.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for workers := 1; workers <= 3; workers++ {
		b.Run(fmt.Sprintf("brook-workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.prefix = fmt.Sprintf("bench-%d-%d", workers, time.Now().UnixNano())
				group := c.prefix
				ws := make([]*testWorker, workers)
				for i := range ws {
					ws[i] = c.startWorkerInGroup(b, group)
				}
				waitFor(b, "every record published", func() bool { return c.storedOffsets(b) == n })
				for _, w := range ws {
					w.stopGracefully(b)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// startWorkerInGroup starts a worker publishing every 100ms in its own group.
func (c *distCluster) startWorkerInGroup(b *testing.B, group string) *testWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWorker{stop: make(chan struct{}), cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := workerRun(ctx, w.stop, workerConfig{
			brokers: []string{c.brokers}, topic: c.topic, group: group, prefix: c.prefix, redisAddr: c.redis,
			publishEach: 100 * time.Millisecond, events: testSettings, cat: DefaultCatalog(),
			clientOpts: []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)},
		})
		w.done <- err
	}()
	b.Cleanup(cancel)
	return w
}

// TestDefaultRunMetrics scrapes the single-process run's /metrics while it
// waits for more input on stdin, then lets it finish: the server goes away
// with the run.
func TestDefaultRunMetrics(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 3000, 12)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	pr, pw := io.Pipe()
	done := make(chan runResult, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"-quiet", "-input", "-", "-json", "", "-metrics", addr}, pr, &stdout, &stderr)
		done <- runResult{code, stdout.String(), stderr.String()}
	}()
	first := 2 * flushLines // the source flushes (and reports counts) every flushLines lines
	_, err = io.WriteString(pw, strings.Join(lines[:first], "\n")+"\n")
	require.NoError(t, err)

	scrape := func() map[string]*dto.MetricFamily {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return nil // not listening yet
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
		return fams
	}
	var out float64
	waitFor(t, "the source's records in /metrics during the run", func() bool {
		fams := scrape()
		if fams == nil || fams["brook_records_out_total"] == nil {
			return false
		}
		out = 0
		for _, m := range fams["brook_records_out_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operator" && l.GetValue() == "plays" {
					out += m.GetCounter().GetValue()
				}
			}
		}
		return out > 0
	})
	assert.LessOrEqual(t, out, float64(first), "scraped while the run waits for input")
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = io.WriteString(pw, strings.Join(lines[first:], "\n")+"\n")
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	res := <-done
	require.Equal(t, exitOK, res.code, res.stderr)
	_, err = http.Get("http://" + addr + "/healthz")
	assert.Error(t, err, "the server stops with the run")
}

// FuzzDecodeWindow: state read back from Redis never panics the worker or
// the report; what decodes re-encodes to the same bytes.
func FuzzDecodeWindow(f *testing.F) {
	cat := DefaultCatalog()
	asg := window.Tumbling(time.Minute)
	w := &windowAgg{start: 0, end: int64(time.Minute), tracks: newTrackSet(cat)}
	i := 0
	for p := range NewGenerator(cat, 50, 1).All() {
		ti, _ := cat.Index(p.TrackID)
		w.tracks.at(ti).Add(p, cat.Track(ti).DurationMs)
		if i++; i == 3 {
			b, err := encodeWindow(cat, w)
			require.NoError(f, err)
			f.Add(b)
		}
	}
	b, err := encodeWindow(cat, w)
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{windowVersion, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeWindow(cat, asg, data, "fuzz")
		if err != nil {
			return
		}
		again, err := encodeWindow(cat, got)
		require.NoError(t, err)
		back, err := decodeWindow(cat, asg, again, "fuzz")
		require.NoError(t, err)
		assert.Equal(t, got.start, back.start)
		for i := range got.tracks {
			if got.tracks[i] == nil {
				assert.Nil(t, back.tracks[i])
				continue
			}
			assert.Equal(t, got.tracks[i].Row(cat.Track(i)), back.tracks[i].Row(cat.Track(i)))
		}
	})
}
