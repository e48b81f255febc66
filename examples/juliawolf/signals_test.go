//go:build unix

package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brook-streams/brook/internal/signals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitForFile polls until ready reports true (an external process's files
// are what it looks at), or fails the test after a minute, once cmd has
// ended (its stderr is complete once Wait has returned).
func waitForFile(t *testing.T, what string, ready func() bool, cmd *exec.Cmd, exited <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) before %s: %s", err, what, stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("no %s within a minute: %s", what, stderr.String())
		}
	}
}

// TestSignalStopsWithSavepoint sends SIGINT and SIGTERM to a built binary
// during a checkpointed run: it must exit within 5 s with one line saying
// how to resume and the status a shell reports for the signal, leaving a
// checkpoint; the same command (at another -parallel) then ends with the
// snapshot and dump of an uninterrupted run.
func TestSignalStopsWithSavepoint(t *testing.T) {
	bin := buildBinary(t)
	events := "2000000"
	if testing.Short() {
		events = "800000"
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	base := []string{"-quiet", "-events", events, "-seed", "9", "-allowed-lateness", "30s"}
	runBinary(t, bin, append(base, "-parallel", "2", "-json", p("want.json"), "-dump", p("want.dump"))...)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(signals.Name(sig), func(t *testing.T) {
			ck, snap, dump := p("ck-"+signals.Name(sig)), p("got-"+signals.Name(sig)+".json"), p("got-"+signals.Name(sig)+".dump")
			args := append(base, "-json", snap, "-dump", dump, "-checkpoint-dir", ck, "-checkpoint-interval", "20ms")
			cmd := exec.Command(bin, append(args, "-parallel", "2")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitForFile(t, "checkpoint 2", func() bool { return latestCheckpoint(ck) >= 2 }, cmd, exited, &stderr)

			require.NoError(t, cmd.Process.Signal(sig))
			sent := time.Now()
			var err error
			select {
			case err = <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 5 s after %v: %s", sig, stderr.String())
			}
			t.Logf("stopped %v after the signal", time.Since(sent))
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "the stopped run must fail: %v: %s", err, stderr.String())
			assert.Equal(t, 128+int(sig), ee.ExitCode(), stderr.String())
			assert.Equal(t, "juliawolf: stopped by "+signals.Name(sig)+" with a checkpoint in "+ck+": run the same command again to resume\n", stderr.String())
			assert.NoFileExists(t, snap, "a stopped run writes no snapshot")
			stoppedAt := latestCheckpoint(ck)
			require.Positive(t, stoppedAt)

			out, err := exec.Command(bin, append(args, "-parallel", "3")...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			snapshotsEqual(t, readSnapshot(t, p("want.json")), readSnapshot(t, snap))
			want, err := os.ReadFile(p("want.dump"))
			require.NoError(t, err)
			got, err := os.ReadFile(dump)
			require.NoError(t, err)
			assert.Equal(t, bytes.Count(want, []byte("\n")), bytes.Count(got, []byte("\n")), "dump lines")
			assert.True(t, bytes.Equal(want, got), "the dump has every play once")
		})
	}
}

// TestSignalWithoutCheckpoints: without -checkpoint-dir a signal cancels
// the run at once and says there is nothing to resume.
func TestSignalWithoutCheckpoints(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	snap, dump := filepath.Join(dir, "snap.json"), filepath.Join(dir, "dump.jsonl")
	cmd := exec.Command(bin, "-quiet", "-events", "100000000", "-json", snap, "-dump", dump)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The pipeline runs once plays reach the dump (polling an external
	// process's file).
	waitForFile(t, "plays in the dump", func() bool {
		st, err := os.Stat(dump)
		return err == nil && st.Size() > 0
	}, cmd, exited, &stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var err error
	select {
	case err = <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("still running 5 s after SIGTERM: %s", stderr.String())
	}
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v: %s", err, stderr.String())
	assert.Equal(t, 128+int(syscall.SIGTERM), ee.ExitCode())
	assert.True(t, strings.HasPrefix(stderr.String(), "juliawolf: stopped by SIGTERM"), stderr.String())
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line")
	assert.NoFileExists(t, snap)
}

// TestSignalInterruptsBlockingInput: a signal stops a run that waits in a
// read — a line that never ends (/dev/zero), a named pipe without a
// writer, standard input with no data — within a second.
func TestSignalInterruptsBlockingInput(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	cases := []struct{ name, input string }{
		{"named pipe without a writer", fifo},
		{"standard input without data", "-"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ name, input string }{"endless line", "/dev/zero"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The -metrics listener is bound after the signal handler is
			// installed: once /healthz answers, a signal is handled.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close())
			cmd := exec.Command(bin, "-quiet", "-json", "", "-input", tc.input, "-metrics", addr)
			stdin, err := cmd.StdinPipe() // held open, never written
			require.NoError(t, err)
			defer stdin.Close()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitForFile(t, "the metrics listener", func() bool {
				resp, err := http.Get("http://" + addr + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			}, cmd, exited, &stderr)

			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			select {
			case err = <-exited:
			case <-time.After(time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("still reading a second after SIGINT: %s", stderr.String())
			}
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "%v: %s", err, stderr.String())
			assert.Equal(t, 128+int(syscall.SIGINT), ee.ExitCode(), stderr.String())
			assert.Equal(t, "juliawolf: stopped by SIGINT (without -checkpoint-dir there is nothing to resume)\n", stderr.String())
		})
	}
}
