package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSignalCancelsTheRun sends SIGINT and SIGTERM to a built binary in
// the middle of a long run: it must exit promptly (15 s at most, for a loaded machine) with one line saying
// that the same command starts over, and the status a shell reports for
// the signal.
func TestSignalCancelsTheRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	t.Parallel()
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the example")
	dir := t.TempDir()
	bin := filepath.Join(dir, "nexmark")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(signalName(sig), func(t *testing.T) {
			rows := filepath.Join(dir, signalName(sig)+".jsonl")
			cmd := exec.Command(bin, "-query", "q0", "-events", "1000000000", "-parallel", "1", "-out", rows)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Polls the child's output file: the run has started once
			// rows appear.
			deadline := time.Now().Add(time.Minute)
			for {
				if st, err := os.Stat(rows); err == nil && st.Size() > 0 {
					break
				}
				select {
				case err := <-exited:
					t.Fatalf("the run ended (%v) before writing rows: %s", err, stderr.String())
				case <-time.After(2 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					<-exited
					t.Fatal("no rows within a minute")
				}
			}
			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err = <-exited:
			case <-time.After(15 * time.Second):
				// It exits in milliseconds on an idle machine; the margin is
				// for a loaded CI runner with -race.
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 15 s after %v", sig)
			}
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "exit: %v", err)
			assert.Equal(t, 128+int(sig), ee.ExitCode())
			msg := stderr.String()
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
			assert.Regexp(t, `^nexmark: stopped by `+signalName(sig)+` after \S+; nexmark keeps no checkpoint: run the same command again to start over\n$`, msg)
			assert.Empty(t, stdout.String(), "no throughput report for a cancelled run")
		})
	}
}
