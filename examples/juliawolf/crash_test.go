package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary builds the example into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the example")
	bin := filepath.Join(t.TempDir(), "juliawolf")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// runBinary runs the example to completion and requires exit status 0.
func runBinary(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, append(args, "-parallel", "3")...).CombinedOutput()
	require.NoError(t, err, "juliawolf %s: %s", strings.Join(args, " "), out)
}

// writeHostileInput copies the event lines of src to dst with hostile
// lines mixed in: broken JSON, blank lines, unknown tracks, invalid UTF-8
// (outside and inside strings), NaN and huge numbers, times far off, and
// a few lines of megabytes.
func writeHostileInput(t *testing.T, src, dst string, seed uint64) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	w := bufio.NewWriter(out)
	rng := rand.New(rand.NewPCG(seed, 1))
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		n++
		switch r := rng.IntN(1000); {
		case r < 3:
			w.WriteString(`{"event_id":"broken` + "\n")
		case r < 5:
			w.WriteString("\n")
		case r < 10:
			line = strings.Replace(line, `"jw-`, `"zz-`, 1) // unknown track
		case r < 11:
			w.WriteString("\xff\xfe not UTF-8 at all\n")
		case r < 12:
			line = strings.Replace(line, `"u-`, "\"u-\xc3\x28", 1) // invalid UTF-8 inside a string: decoded with U+FFFD
		case r < 13:
			line = line[:strings.LastIndex(line, ":")+1] + "NaN}"
		case r < 14:
			line = line[:strings.LastIndex(line, ":")+1] + "1e400}"
		case r < 15:
			line = strings.Replace(line, `"event_time":"2026`, `"event_time":"1700`, 1) // far past: late
		case r < 16:
			line = strings.Replace(line, `"event_time":"2026`, `"event_time":"9999`, 1) // out of range
		}
		if n%(100_000) == 50_000 {
			w.WriteString(`{"event_id":"` + strings.Repeat("m", MaxLineBytes) + `"}` + "\n") // too long
		}
		w.WriteString(line)
		w.WriteString("\n")
	}
	require.NoError(t, sc.Err())
	require.NoError(t, w.Flush())
	require.NoError(t, out.Close())
}

// latestCheckpoint returns the id of the newest checkpoint file in dir, 0
// if there is none.
func latestCheckpoint(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "ckpt-*.bin"))
	var latest int64
	for _, f := range files {
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "ckpt-"), ".bin"), 10, 64)
		if err == nil {
			latest = max(latest, id)
		}
	}
	return latest
}

// snapshotWithoutRun reads a snapshot file as JSON, without "run".
func snapshotWithoutRun(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	require.Contains(t, m, "run")
	delete(m, "run")
	return m
}

// TestCrashRecovery is the kill -9 test: the example runs on a large event
// file with hostile lines, checkpointing every 50ms; it is killed with
// SIGKILL at random points (each time after at least one new checkpoint),
// restarted with the same flags but a random -parallel (checkpoints
// restore at any parallelism), and finally left to finish. The snapshot
// must equal an uninterrupted run's (all but "run") and the dead-letter
// file must be byte for byte the same: nothing lost, nothing counted or
// written twice.
func TestCrashRecovery(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	events, kills := 400_000, 5
	if testing.Short() {
		events, kills = 150_000, 3
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	runBinary(t, bin, "-quiet", "-json", "", "-events", strconv.Itoa(events), "-seed", "77", "-dump", p("generated.jsonl"))
	writeHostileInput(t, p("generated.jsonl"), p("plays.jsonl"), seed)
	require.NoError(t, os.Remove(p("generated.jsonl")))

	common := []string{"-quiet", "-input", p("plays.jsonl"), "-max-delay", "3s", "-allowed-lateness", "20s"}
	began := time.Now()
	runBinary(t, bin, append(common, "-parallel", "2", "-json", p("want.json"), "-dead-letter", p("want.dead.jsonl"))...)
	t.Logf("uninterrupted run: %v", time.Since(began))

	ckdir := p("ckpt")
	args := append(common, "-json", p("got.json"), "-dead-letter", p("got.dead.jsonl"),
		"-checkpoint-dir", ckdir, "-checkpoint-interval", "50ms")
	killed := 0
	for killed < kills {
		before := latestCheckpoint(ckdir)
		parallel := strconv.Itoa(1 + rng.IntN(4))
		cmd := exec.Command(bin, append(args, "-parallel", parallel)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill after one to three new checkpoints, and a few random
		// milliseconds more, so kills land anywhere between barriers.
		want := before + 1 + rng.Int64N(3)
		deadline := time.Now().Add(time.Minute)
		var err error
		done := false
	poll:
		for {
			select {
			case err = <-exited:
				done = true
				break poll
			case <-time.After(2 * time.Millisecond):
			}
			if latestCheckpoint(ckdir) >= want {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-exited // stderr is complete once Wait returns
				t.Fatalf("no checkpoint %d within a minute; stderr: %s", want, stderr.String())
			}
		}
		if done {
			require.NoError(t, err, "the run ended on its own before kill %d: %s", killed+1, stderr.String())
			t.Fatalf("the run finished after %d of %d kills: make the input larger", killed, kills)
		}
		select {
		case err = <-exited:
			t.Fatalf("the run finished after %d of %d kills (%v): make the input larger", killed, kills, err)
		case <-time.After(time.Duration(rng.IntN(30)) * time.Millisecond):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = <-exited
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "killed run: %v", err)
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
			t.Logf("kill %d at -parallel %s after checkpoint %d", killed, parallel, latestCheckpoint(ckdir))
			continue
		}
		t.Fatalf("the run failed before the kill: %v: %s", err, stderr.String())
	}
	began = time.Now()
	out, err := exec.Command(bin, append(args, "-parallel", "3")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("last run, resumed from checkpoint: %v", time.Since(began))

	want, got := snapshotWithoutRun(t, p("want.json")), snapshotWithoutRun(t, p("got.json"))
	assert.Equal(t, want, got, "snapshot after %d kills", kills)
	assert.Positive(t, want["events_invalid"], "hostile lines were rejected")
	assert.Positive(t, want["events_late"])
	wantDead, err := os.ReadFile(p("want.dead.jsonl"))
	require.NoError(t, err)
	gotDead, err := os.ReadFile(p("got.dead.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, bytes.Count(wantDead, []byte("\n")), bytes.Count(gotDead, []byte("\n")), "dead letters")
	assert.True(t, bytes.Equal(wantDead, gotDead), "dead-letter files differ (%d vs %d bytes)", len(wantDead), len(gotDead))
	assert.Equal(t, fmt.Sprint(want["events_invalid"]), strconv.Itoa(bytes.Count(wantDead, []byte("\n"))), "one dead letter per invalid line")
	assert.Zero(t, latestCheckpoint(ckdir), "a finished run clears its checkpoints")
}
