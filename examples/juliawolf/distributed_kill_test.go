package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workerProc is a worker process of the built binary.
type workerProc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	err    error         // Wait's, once exited is closed
	exited chan struct{} // closed when the process has exited
}

func startWorkerProc(t *testing.T, bin string, args ...string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(bin, append([]string{"worker"}, args...)...), exited: make(chan struct{})}
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	require.NoError(t, w.cmd.Start())
	go func() { w.err = w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
	})
	return w
}

// wait waits for the worker to exit and requires status 0.
func (w *workerProc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-w.exited:
		require.NoError(t, w.err, "worker: %s", w.out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("worker did not exit: %s", w.out.String())
	}
}

// TestDistributedProcessesKilled runs the distributed mode as processes of
// the built binary against kfake and a redis-server: produce publishes
// out-of-order plays with late ones and invalid lines while two workers
// run; one worker is killed with SIGKILL partway, restarted with its static
// member id, and a third joins late; every worker exits by -idle-exit once
// the group is done. report (checked against the topic) equals the
// single-process snapshot of the same file.
func TestDistributedProcessesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process kill test")
	}
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "plays.jsonl")
	writeEventFile(t, path, 60000, 77)
	c := newCluster(t, 6)
	flags := []string{"-window", "1m", "-max-delay", "5s", "-allowed-lateness", "2s"}
	single := runMain(t, "", append([]string{"-quiet", "-input", path, "-json", filepath.Join(dir, "single.json")}, flags...)...)
	require.Equal(t, 0, single.code, single.stderr)

	worker := func(instance string) *workerProc {
		return startWorkerProc(t, bin, append([]string{"-brokers", c.brokers, "-topic", c.topic, "-group", "procs",
			"-redis", c.redis, "-prefix", c.prefix, "-idle-exit", "2s", "-session-timeout", "6s",
			"-publish-interval", "100ms", "-instance", instance, "-quiet"}, flags...)...)
	}
	a := worker("a")
	b := worker("b")
	prod := exec.Command(bin, append([]string{"produce", "-brokers", c.brokers, "-topic", c.topic, "-input", path, "-quiet"}, flags...)...)
	out, err := prod.CombinedOutput()
	require.NoError(t, err, "produce: %s", out)

	ends := c.endSum(t)
	waitFor(t, "a part of the input stored", func() bool {
		select {
		case <-a.exited:
			t.Fatalf("worker a exited (%v): %s", a.err, a.out.String())
		default:
		}
		return c.committedOffsets(t, "procs") > 0
	})
	require.NoError(t, a.cmd.Process.Kill()) // SIGKILL: nothing more is stored
	<-a.exited
	stored := c.committedOffsets(t, "procs")
	t.Logf("killed worker a with %d of %d records stored", stored, ends)
	a2 := worker("a") // takes a's partitions back (static membership)
	late := worker("c")
	for _, w := range []*workerProc{a2, b, late} {
		w.wait(t)
	}
	assert.Equal(t, ends, c.committedOffsets(t, "procs"), "the group's positions cover the topic")

	rep := exec.Command(bin, "report", "-redis", c.redis, "-prefix", c.prefix, "-brokers", c.brokers, "-topic", c.topic,
		"-json", filepath.Join(dir, "dist.json"), "-quiet")
	out, err = rep.CombinedOutput()
	require.NoError(t, err, "report: %s", out)
	want, got := readSnapshot(t, filepath.Join(dir, "single.json")), readSnapshot(t, filepath.Join(dir, "dist.json"))
	require.Positive(t, want.EventsLate)
	require.Positive(t, want.EventsInvalid)
	snapshotsEqual(t, want, got)
}
