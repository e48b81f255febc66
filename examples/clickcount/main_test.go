package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/brook-streams/brook/internal/redistest"
)

// workerEnv makes the test binary a clickcount worker with the arguments
// in the variable (separated by spaces).
const workerEnv = "CLICKCOUNT_WORKER_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(workerEnv); args != "" {
		os.Exit(run(context.Background(), strings.Fields(args), os.Stderr))
	}
	os.Exit(m.Run())
}

const (
	testParts  = 6
	testWindow = 10 * time.Second
	testBase   = int64(1_700_000_000_000)
)

// worker is a clickcount child process.
type worker struct {
	cmd    *exec.Cmd
	stderr *syncWriter
	exited chan struct{} // closed when it has exited; err is then set
	err    error
}

func startWorker(t *testing.T, args ...string) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+strings.Join(args, " "))
	w := &worker{cmd: cmd, stderr: &syncWriter{w: &bytes.Buffer{}}, exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	if os.Getenv("CLICKCOUNT_DEBUG") != "" {
		cmd.Stderr = io.MultiWriter(os.Stderr, w.stderr)
	}
	require.NoError(t, cmd.Start())
	go func() {
		w.err = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.exited
	})
	return w
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (w *worker) log() string {
	w.stderr.mu.Lock()
	defer w.stderr.mu.Unlock()
	return w.stderr.w.String()
}

// genClicks returns n clicks over a few dozen pages, out of order by up to
// 750ms, within the workers' out-of-orderness bound (1s): none is late,
// however the source batches its polls.
func genClicks(n int) []Click {
	out := make([]Click, n)
	for i := range out {
		jitter := int64((i*7919)%751) - 375
		out[i] = Click{Page: fmt.Sprintf("page-%d", (i*31+i/7)%37), TS: testBase + int64(i)*40 + jitter}
	}
	return out
}

func produceBatch(ctx context.Context, cl *kgo.Client, cs []Click) error {
	recs := make([]*kgo.Record, len(cs))
	for i, c := range cs {
		b, _ := json.Marshal(c)
		recs[i] = &kgo.Record{Topic: "clicks", Key: []byte(c.Page), Value: b}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// sentinel returns, for each partition, a click far after the input, so
// every partition's watermark passes all the input's windows.
func sentinels(ts int64) []Click {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("clicks")
	var out []Click
	for p := range testParts {
		for i := 0; ; i++ {
			page := fmt.Sprintf("end-%d", i)
			if part.Partition(&kgo.Record{Key: []byte(page)}, testParts) == p {
				out = append(out, Click{Page: page, TS: ts})
				break
			}
		}
	}
	return out
}

// bruteForce counts the clicks per page and window.
func bruteForce(cs []Click) map[string]int64 {
	w := testWindow.Milliseconds()
	want := map[string]int64{}
	for _, c := range cs {
		want[fmt.Sprintf("%s@%d", c.Page, c.TS-c.TS%w)]++
	}
	return want
}

// TestWorkersKilledAndAdded runs three worker processes on one kfake
// cluster and one redis-server, kills one with SIGKILL partway, adds a
// fourth, and checks the output topic (read_committed) row by row: every
// window's count exactly once, equal to the brute-force count.
func TestWorkersKilledAndAdded(t *testing.T) {
	rdb := redistest.Start(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testParts, "clicks"), kfake.SeedTopics(1, "page-counts"))
	require.NoError(t, err)
	defer c.Close()
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()

	input := genClicks(6000)
	third := len(input) / 3
	args := []string{"-brokers", addr, "-redis", "redis://" + rdb.Options().Addr + "/0", "-window", testWindow.String(),
		"-out-of-orderness", "1s", "-checkpoint", "100ms", "-session-timeout", "6s", "-exit-when-done", "1500ms", "-v"}

	// The input comes in small batches while the workers run, so the
	// group is never done before the last batch.
	produced := make(chan error, 1)
	go func() {
		defer close(produced)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		batch := len(input) / 100
		for i := 0; i < len(input); i += batch {
			if err := produceBatch(ctx, cl, input[i:min(i+batch, len(input))]); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond) // pacing the producer, not waiting for an outcome
		}
		produced <- produceBatch(ctx, cl, sentinels(testBase+int64(len(input))*40+time.Hour.Milliseconds()))
	}()
	w1, w2, w3 := startWorker(t, args...), startWorker(t, args...), startWorker(t, args...)
	var w4 *worker
	defer func() {
		if t.Failed() {
			for i, w := range []*worker{w1, w2, w3, w4} {
				if w != nil {
					t.Logf("worker %d:\n%s", i+1, w.log())
				}
			}
		}
	}()
	waitFor(t, "the workers checkpoint a third of the input", func() bool { return committedTotal(t, addr) > int64(third) })
	require.NoError(t, w2.cmd.Process.Signal(syscall.SIGKILL))
	<-w2.exited
	waitFor(t, "the survivors checkpoint two thirds of the input", func() bool { return committedTotal(t, addr) > int64(2*third) })
	w4 = startWorker(t, args...)
	require.NoError(t, <-produced)

	for i, w := range []*worker{w1, w3, w4} {
		select {
		case <-w.exited:
			require.NoError(t, w.err, "worker %d exits 0 once the group is done", i)
		case <-time.After(3 * time.Minute):
			t.Fatalf("worker %d did not exit", i)
		}
	}

	got, times := readCounts(t, cl, addr)
	want := bruteForce(input)
	require.NotEmpty(t, want)
	for k, n := range want {
		assert.Equal(t, n, got[k], "count of %s", k)
	}
	for k := range got {
		_, ok := want[k]
		assert.True(t, ok, "unexpected row %s", k)
	}
	for k, n := range times {
		assert.Equal(t, 1, n, "row %s written %d times", k, n)
	}
}

// TestWorkerFailsFast: bad flags, a missing topic, unreachable brokers or
// Redis end a worker within the connect timeout with one line and a
// non-zero status.
func TestWorkerFailsFast(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "clicks"))
	require.NoError(t, err)
	defer c.Close()
	addr := c.ListenAddrs()[0]
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no store", []string{"-brokers", addr}, 2, "exactly one of -redis and -store-dir"},
		{"bad window", []string{"-brokers", addr, "-store-dir", dir, "-window", "0s"}, 2, "-window"},
		{"missing topic", []string{"-brokers", addr, "-store-dir", dir, "-in", "nope", "-connect-timeout", "3s"}, 1, "topic does not exist"},
		{"unreachable brokers", []string{"-brokers", "127.0.0.1:1", "-store-dir", dir, "-connect-timeout", "500ms"}, 1, "unreachable"},
		{"unreachable redis", []string{"-brokers", addr, "-redis", "redis://127.0.0.1:1/0", "-connect-timeout", "500ms"}, 1, "redis 127.0.0.1:1 unreachable"},
		{"bad redis url", []string{"-brokers", addr, "-redis", "http://x"}, 1, "-redis"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), tc.args, &stderr)
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.msg)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, "one line: %q", stderr.String())
			assert.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

// readCounts reads the output read_committed up to a marker appended after
// the workers ended, so every transaction before it is decided.
func readCounts(t *testing.T, cl *kgo.Client, addr string) (map[string]int64, map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "page-counts", Value: []byte("end")}).FirstErr())
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("page-counts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	require.NoError(t, err)
	defer rd.Close()
	got, times := map[string]int64{}, map[string]int{}
	for {
		fs := rd.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "the marker did not come")
		for _, r := range fs.Records() {
			if string(r.Value) == "end" {
				return got, times
			}
			var row Count
			require.NoError(t, json.Unmarshal(r.Value, &row))
			require.Equal(t, testWindow.Milliseconds(), row.End-row.Start)
			k := fmt.Sprintf("%s@%d", row.Page, row.Start)
			got[k] = row.Count
			times[k]++
		}
	}
}

// committedTotal sums the group's committed offsets.
func committedTotal(t *testing.T, addr string) int64 {
	t.Helper()
	old, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V2_8_0()))
	require.NoError(t, err)
	defer old.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "clickcount"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, old)
	if err != nil {
		return 0
	}
	var n int64
	for _, tt := range resp.Topics {
		for _, p := range tt.Partitions {
			n += max(p.Offset, 0)
		}
	}
	return n
}

// waitFor polls an external state (the cluster's) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
