package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/redisstore"
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
}

func newCluster(t testing.TB, partitions int32) *distCluster {
	c := &distCluster{topic: "plays", prefix: "jw"}
	c.brokers = startKafka(t, c.topic, partitions)
	c.redis = startTestRedis(t)
	c.rdb = redis.NewClient(&redis.Options{Addr: c.redis})
	t.Cleanup(func() { c.rdb.Close() })
	return c
}

// producer is a running produce reading its input from a pipe, so a test
// can hand it the plays in parts (one input: the watermark continues, and
// the final watermark comes at close).
type producer struct {
	pw   *io.PipeWriter
	st   produceStats
	done chan error
}

func (c *distCluster) startProduce(t testing.TB) *producer {
	t.Helper()
	pr, pw := io.Pipe()
	p := &producer{pw: pw, done: make(chan error, 1)}
	go func() {
		p.done <- produceRun(context.Background(), produceConfig{
			brokers: []string{c.brokers}, topic: c.topic, input: "-", stdin: pr, ev: testSettings, cat: DefaultCatalog(),
		}, &p.st)
		_ = pr.Close()
	}()
	t.Cleanup(func() { _ = pw.CloseWithError(errors.New("test over")) })
	return p
}

// send hands lines to the producer and waits until it has published them.
func (p *producer) send(t testing.TB, lines []string) {
	t.Helper()
	want := p.st.valid.Load() + p.st.invalid.Load() + int64(len(lines))
	_, err := io.WriteString(p.pw, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err)
	waitFor(t, "the lines classified", func() bool { return p.st.valid.Load()+p.st.invalid.Load() >= want })
}

// finish ends the input (the final watermark goes to every partition).
func (p *producer) finish(t testing.TB) {
	t.Helper()
	require.NoError(t, p.pw.Close())
	require.NoError(t, <-p.done)
}

// produce publishes lines as one produce run.
func (c *distCluster) produce(t testing.TB, lines []string) {
	t.Helper()
	p := c.startProduce(t)
	p.send(t, lines)
	p.finish(t)
	require.Equal(t, int64(len(lines)), p.st.valid.Load()+p.st.invalid.Load())
}

// testWorker is a running worker.
type testWorker struct {
	group  *kafka.Group[trackPlay]
	st     workerStats
	stop   chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func (c *distCluster) startWorker(t testing.TB, publishEach time.Duration, metrics *metricsServer) *testWorker {
	t.Helper()
	return c.startWorkerIn(t, "workers", publishEach, metrics)
}

func (c *distCluster) startWorkerIn(t testing.TB, group string, publishEach time.Duration, metrics *metricsServer) *testWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWorker{stop: make(chan struct{}), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	cfg := workerConfig{
		brokers: []string{c.brokers}, topic: c.topic, group: group, prefix: c.prefix, redisAddr: c.redis,
		publishEach: publishEach, events: testSettings, cat: DefaultCatalog(), metrics: metrics,
		session: 6 * time.Second, maxPoll: 200,
		observe: func(g *kafka.Group[trackPlay]) { w.group = g; close(ready) },
	}
	go func() { w.done <- workerRun(ctx, w.stop, cfg, &w.st) }()
	select {
	case <-ready:
	case err := <-w.done:
		t.Fatalf("worker did not start: %v", err)
	}
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

// kill stops a worker at once, storing nothing more (a crash).
func (w *testWorker) kill(t testing.TB) {
	t.Helper()
	w.cancel()
	require.ErrorIs(t, <-w.done, context.Canceled)
	w.done <- nil
}

func (w *testWorker) owned() int { return len(w.group.Assigned()) }

// complete reports whether every partition's stored state has seen the end
// of the input.
func (c *distCluster) complete(t testing.TB, partitions int) bool {
	t.Helper()
	st, err := loadState(context.Background(), c.rdb, c.prefix, DefaultCatalog())
	if err != nil {
		return false
	}
	return len(st.tasks) == partitions && len(st.unfinished()) == 0
}

// waitFor polls cond (a server's state or a counter) until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *distCluster) report(t testing.TB) *Snapshot {
	t.Helper()
	st, err := loadState(context.Background(), c.rdb, c.prefix, DefaultCatalog())
	require.NoError(t, err)
	require.NotEmpty(t, st.tasks)
	require.Empty(t, st.unfinished())
	snap, err := st.snapshot(DefaultCatalog())
	require.NoError(t, err)
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

// endSum returns the sum of the topic's end offsets: every record, the
// final watermarks included.
func (c *distCluster) endSum(t testing.TB) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kafka.EndOffsets(ctx, cl, c.topic)
	require.NoError(t, err)
	var sum int64
	for _, e := range ends {
		sum += e
	}
	return sum
}

// TestDistributedEqualsSingleProcess: one produce run publishes the plays
// in two parts; one worker reads the first, a second one joins (a
// rebalance: tasks move with their state) before the second part comes;
// report equals the single-process snapshot, windows, late plays and
// sketches included.
func TestDistributedEqualsSingleProcess(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 6000, 31)
	want := singleProcess(t, lines)
	c := newCluster(t, 4)
	half := len(lines) / 2

	prod := c.startProduce(t)
	prod.send(t, lines[:half])
	a := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the first part read", func() bool { return a.st.records.Load() >= int64(half) })
	b := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the rebalance", func() bool { return b.owned() > 0 && a.owned() > 0 })
	prod.send(t, lines[half:])
	prod.finish(t)
	waitFor(t, "every partition's state at the end of the input", func() bool { return c.complete(t, 4) })
	a.stopGracefully(t)
	b.stopGracefully(t)

	assert.GreaterOrEqual(t, a.st.records.Load()+b.st.records.Load(), int64(len(lines)), "every record read")
	assert.Equal(t, c.endSum(t), c.committedOffsets(t, "workers"), "the group's commits follow the stored state")
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

// TestWorkerKilledAndRestarted: a worker that checkpoints rarely is killed
// (nothing more stored) after reading records; the other takes its
// partitions over from the stored state and positions, reading again what
// was not stored; a restarted worker takes partitions back. The report is
// still the single-process snapshot: nothing lost, nothing counted twice.
func TestWorkerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	lines := writeEventFile(t, filepath.Join(t.TempDir(), "plays.jsonl"), 6000, 47)
	want := singleProcess(t, lines)
	c := newCluster(t, 4)
	half := len(lines) / 2

	prod := c.startProduce(t)
	prod.send(t, lines[:half])
	a := c.startWorker(t, time.Hour, nil) // checkpoints only when tasks leave it
	waitFor(t, "the first part read", func() bool { return a.st.records.Load() >= int64(half) })
	b := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "the rebalance", func() bool { return b.owned() > 0 && a.owned() > 0 })
	prod.send(t, lines[half:])
	prod.finish(t)
	waitFor(t, "every record read", func() bool {
		return a.st.records.Load()+b.st.records.Load() >= int64(len(lines))
	})
	require.False(t, c.complete(t, 4), "the killed worker's tasks have unstored records")
	a.kill(t)

	waitFor(t, "the survivor owning everything", func() bool { return b.owned() == 4 })
	a2 := c.startWorker(t, 50*time.Millisecond, nil)
	waitFor(t, "every partition's state at the end of the input", func() bool { return c.complete(t, 4) })
	a2.stopGracefully(t)
	b.stopGracefully(t)
	assert.Greater(t, a.st.records.Load()+b.st.records.Load()+a2.st.records.Load(), int64(len(lines)),
		"records the killed worker had not stored were read again")
	requireSameSnapshot(t, want, c.report(t))
}

// TestFencedWorkerCannotOverwrite: a worker whose task was taken over (a
// newer claim) cannot store a checkpoint any more, and the workers refuse
// state written with other settings.
func TestFencedWorkerCannotOverwrite(t *testing.T) {
	t.Parallel()
	addr := startTestRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	tasks := redisstore.NewTasks(rdb, tasksPrefix("f"))
	old, err := tasks.Claim(ctx, "t-0")
	require.NoError(t, err)
	ps := newPartialSink(DefaultCatalog())
	ps.invalid = 10
	state := func(ps *partialSink) map[string][]byte {
		b, err := ps.Snapshot()
		require.NoError(t, err)
		return map[string][]byte{partialsName + "/0": append(binary.AppendVarint(nil, 0), b...)}
	}
	require.NoError(t, old.Save(ctx, &stream.Checkpoint{ID: 1, States: state(ps)}))
	newer, err := tasks.Claim(ctx, "t-0")
	require.NoError(t, err)
	ps.invalid = 20
	require.ErrorIs(t, old.Save(ctx, &stream.Checkpoint{ID: 2, States: state(ps)}), stream.ErrFenced)
	cp, err := newer.Latest(ctx)
	require.NoError(t, err)
	b, ok, err := cp.OperatorState(partialsName, 0)
	require.NoError(t, err)
	require.True(t, ok)
	got, err := decodePartials(DefaultCatalog(), nil, b, "t-0")
	require.NoError(t, err)
	assert.Equal(t, int64(10), got.invalid, "the new owner restores what the old one stored, and nothing after")

	require.NoError(t, claimSettings(ctx, rdb, "f", newDistSettings(testSettings, DefaultCatalog())))
	require.NoError(t, claimSettings(ctx, rdb, "f", newDistSettings(testSettings, DefaultCatalog())), "the same settings again")
	other := testSettings
	other.window = 2 * time.Minute
	err = claimSettings(ctx, rdb, "f", newDistSettings(other, DefaultCatalog()))
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

	// Checked against Kafka: every partition's stored state is at the end.
	checked := filepath.Join(dir, "checked.json")
	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", c.topic, "-json", checked)
	require.Equal(t, 0, res.code, res.stderr)
	assert.NotContains(t, res.stderr, "partial")
	snapshotsEqual(t, want, readSnapshot(t, checked))
	// Unchecked, it says so.
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-json", "").stderr, "may be partial")
	// Bounded-time failures: a missing topic, unreachable Kafka or Redis.
	res = sub(append([]string{"worker", "-brokers", c.brokers, "-topic", "nope", "-redis", c.redis, "-prefix", c.prefix, "-connect-timeout", "3s"}, flags...)...)
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "topic does not exist")
	assert.NotContains(t, res.stdout, "Worker done")
	res = sub(append([]string{"worker", "-brokers", "127.0.0.1:1", "-topic", c.topic, "-redis", c.redis, "-prefix", c.prefix, "-connect-timeout", "500ms"}, flags...)...)
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "unreachable")
	res = sub("worker", "-brokers", c.brokers, "-topic", c.topic, "-redis", "127.0.0.1:1", "-connect-timeout", "500ms")
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "redis 127.0.0.1:1 unreachable")
	res = sub("worker", "-brokers", c.brokers, "-topic", c.topic, "-redis", c.redis, "-prefix", c.prefix, "-window", "2m")
	assert.Equal(t, exitUsage, res.code, "state of other settings")
	assert.Contains(t, res.stderr, "other settings")
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", "nope").stderr, "topic does not exist")
	assert.Contains(t, sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", "127.0.0.1:1", "-topic", c.topic, "-connect-timeout", "500ms").stderr, "unreachable")
	assert.Contains(t, sub("report", "-redis", "127.0.0.1:1", "-connect-timeout", "500ms").stderr, "redis 127.0.0.1:1 unreachable")

	// A partition without stored state (its owner died before its first
	// checkpoint) makes the report fail loudly, and write nothing.
	require.NoError(t, c.rdb.Del(context.Background(), "{"+tasksPrefix(c.prefix)+":"+c.topic+"-1}:ids").Err())
	partial := filepath.Join(dir, "partial.json")
	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", c.topic, "-json", partial)
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "partial: the stored state of 1 of the 3 partitions")
	assert.Contains(t, res.stderr, "1 (no stored state)")
	assert.NoFileExists(t, partial)
	res = sub("report", "-redis", c.redis, "-prefix", c.prefix, "-json", partial)
	assert.Equal(t, exitRun, res.code)
	assert.Contains(t, res.stderr, "partial: the stored state of "+c.topic+"-1 has not reached the end")
	assert.NoFileExists(t, partial)

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

	// The tasks' pipelines share the registry: each series sums them.
	metric := func(families map[string]*dto.MetricFamily, name, op string) float64 {
		f := families[name]
		if f == nil {
			return -1
		}
		sum, found := 0.0, false
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operator" && l.GetValue() == op {
					found = true
					if m.GetCounter() != nil {
						sum += m.GetCounter().GetValue()
					} else {
						sum = max(sum, m.GetGauge().GetValue())
					}
				}
			}
		}
		if !found {
			return -1
		}
		return sum
	}
	var families map[string]*dto.MetricFamily
	// The watermark the windows report may come after their last record
	// is counted (the last records can be ahead of the next watermark), so
	// the wait covers it too.
	waitFor(t, "every record counted in /metrics, and the windows' watermark", func() bool {
		code, body := get("/metrics")
		require.Equal(t, http.StatusOK, code)
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err = p.TextToMetricFamilies(strings.NewReader(body))
		require.NoError(t, err)
		return metric(families, "brook_records_in_total", "kafka.decode") == float64(len(lines)) &&
			metric(families, "brook_records_in_total", "track-windows") == float64(want.EventsProcessed) &&
			metric(families, "brook_watermark_seconds", "track-windows") > 0
	})
	assert.Equal(t, float64(want.EventsLate), metric(families, "brook_late_records_total", "track-windows"))
	assert.Equal(t, float64(want.EventsInvalid), metric(families, "brook_errors_total", "kafka.decode"))
	assert.Positive(t, metric(families, "brook_watermark_seconds", "track-windows"), "the watermark moved")
	w.stopGracefully(t)
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

// FuzzDecodePartials: a task's partials read back from its checkpoint
// never panic the report or a restoring worker; what decodes re-encodes and
// decodes again to the same partials.
func FuzzDecodePartials(f *testing.F) {
	cat := DefaultCatalog()
	asg := window.Tumbling(time.Minute)
	ps := newPartialSink(cat)
	w := &windowPartial{start: 0, end: stream.Time(time.Minute), tracks: newTrackSet(cat)}
	ps.windows[0] = w
	i := 0
	for p := range NewGenerator(cat, 50, 1).All() {
		ti, _ := cat.Index(p.TrackID)
		if i%5 == 0 {
			ps.late.at(ti).Add(p, cat.Track(ti).DurationMs)
		} else {
			w.tracks.at(ti).Add(p, cat.Track(ti).DurationMs)
		}
		if i++; i == 3 {
			b, err := ps.Snapshot()
			require.NoError(f, err)
			f.Add(b)
		}
	}
	ps.invalid, ps.ended = 3, true
	b, err := ps.Snapshot()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{partialsVersion, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodePartials(cat, &asg, data, "fuzz")
		if err != nil {
			return
		}
		again, err := got.Snapshot()
		require.NoError(t, err)
		back, err := decodePartials(cat, &asg, again, "fuzz")
		require.NoError(t, err)
		assert.Equal(t, got.invalid, back.invalid)
		assert.Equal(t, got.ended, back.ended)
		assert.Len(t, back.windows, len(got.windows))
	})
}
