package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// runUntilCheckpoint runs the program in-process and cancels it (Ctrl-C)
// once checkpoint n is in dir.
func runUntilCheckpoint(t *testing.T, dir string, n int64, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		deadline := time.Now().Add(time.Minute)
		for latestCheckpoint(dir) < n && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond) // polling for the checkpoint file
		}
		cancel()
	}()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return runResult{code, stdout.String(), stderr.String()}
}

// TestResumeGeneratorRun interrupts a generator run with -dump and
// -dead-letter after a few checkpoints and resumes it: the snapshot and the
// dump equal an uninterrupted run's, and the finished run clears the
// checkpoint directory.
func TestResumeGeneratorRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	base := []string{"-quiet", "-events", "300000", "-seed", "5", "-parallel", "2", "-allowed-lateness", "30s"}
	res := runMain(t, "", append(base, "-json", p("want.json"), "-dump", p("want.dump"), "-windows-jsonl", p("want.jsonl"))...)
	require.Equal(t, 0, res.code, res.stderr)

	ck := p("ck")
	args := append(base, "-json", p("got.json"), "-dump", p("got.dump"), "-checkpoint-dir", ck, "-checkpoint-interval", "5ms", "-windows-jsonl", p("got.jsonl"))
	res = runUntilCheckpoint(t, ck, 2, args...)
	require.Equal(t, 1, res.code, "interrupted: %s", res.stderr)
	assert.Equal(t, "juliawolf: context canceled (run again with -checkpoint-dir "+ck+" to resume)\n", res.stderr)
	require.GreaterOrEqual(t, latestCheckpoint(ck), int64(2))
	assert.FileExists(t, filepath.Join(ck, runKeyFile))

	// Another run's settings are refused, and leave the checkpoints be.
	other := append(append([]string{}, args...), "-seed", "6")
	res = runMain(t, "", other...)
	assert.Equal(t, 2, res.code)
	assert.Equal(t, "juliawolf: -checkpoint-dir "+ck+" holds checkpoints of another run (seed: 5, now 6): remove them or use another directory\n", res.stderr)
	// Resuming without -windows-jsonl would drop the rows kept so far.
	res = runMain(t, "", args[:len(args)-2]...)
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "window_tracks")

	res = runMain(t, "", args[1:]...) // not quiet: the report says it resumes
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "  Resuming from checkpoint ")
	assert.Contains(t, res.stdout, "Wave 1 -- New Release Spike")
	snapshotsEqual(t, readSnapshot(t, p("want.json")), readSnapshot(t, p("got.json")))
	wantRows, err := os.ReadFile(p("want.jsonl"))
	require.NoError(t, err)
	gotRows, err := os.ReadFile(p("got.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, string(wantRows), string(gotRows), "-windows-jsonl of the resumed run")
	want, err := os.ReadFile(p("want.dump"))
	require.NoError(t, err)
	got, err := os.ReadFile(p("got.dump"))
	require.NoError(t, err)
	assert.Equal(t, bytes.Count(want, []byte("\n")), bytes.Count(got, []byte("\n")), "dump lines")
	assert.True(t, bytes.Equal(want, got), "the dump has every play once")
	entries, err := os.ReadDir(ck)
	require.NoError(t, err)
	assert.Empty(t, entries, "a finished run clears its checkpoints")
}

func TestCheckpointFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A directory with a checkpoint but no run key.
	orphan := filepath.Join(dir, "orphan")
	store, err := stream.NewDirStore(orphan)
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), &stream.Checkpoint{ID: 1, States: map[string][]byte{}}))
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	// A run key that is not one.
	badKey := filepath.Join(dir, "bad-key")
	store, err = stream.NewDirStore(badKey)
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), &stream.Checkpoint{ID: 1, States: map[string][]byte{}}))
	require.NoError(t, os.WriteFile(filepath.Join(badKey, runKeyFile), []byte(`{"input":3}`), 0o644))

	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"zero interval", []string{"-checkpoint-dir", dir, "-checkpoint-interval", "0s"}, "-checkpoint-interval must be positive, got 0s"},
		{"negative interval", []string{"-checkpoint-interval", "-1s"}, "-checkpoint-interval must be positive, got -1s"},
		{"standard input", []string{"-input", "-", "-checkpoint-dir", dir}, "-checkpoint-dir cannot be used with -input - (standard input cannot be read again from a checkpoint)"},
		{"checkpoints of an unknown run", []string{"-checkpoint-dir", orphan}, "-checkpoint-dir " + orphan + " holds checkpoints but no " + runKeyFile + ": remove them or use another directory"},
		{"a damaged run key", []string{"-checkpoint-dir", badKey}, "-checkpoint-dir: " + badKey + ": " + runKeyFile + ": json: cannot unmarshal number"},
		{"a file, not a directory", []string{"-checkpoint-dir", file}, "-checkpoint-dir: mkdir " + file + ": not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, "", append([]string{"-quiet", "-json", "", "-events", "10"}, tc.args...)...)
			assert.Equal(t, 2, res.code, res.stderr)
			assert.True(t, strings.HasPrefix(res.stderr, "juliawolf: "+tc.stderr), "stderr %q, want %q...", res.stderr, tc.stderr)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line: %q", res.stderr)
		})
	}
}

// TestCheckpointedRunMatches: a run with -checkpoint-dir that is never
// interrupted gives the same snapshot as one without, with checkpoints
// taken along the way.
func TestCheckpointedRunMatches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	base := []string{"-quiet", "-events", "50000", "-parallel", "3"}
	require.Equal(t, 0, runMain(t, "", append(base, "-json", p("a.json"))...).code)
	res := runMain(t, "", append(base, "-json", p("b.json"), "-checkpoint-dir", p("ck"), "-checkpoint-interval", "1ms")...)
	require.Equal(t, 0, res.code, res.stderr)
	snapshotsEqual(t, readSnapshot(t, p("a.json")), readSnapshot(t, p("b.json")))
}

// TestTornCheckpointStartsAfresh: a directory whose only checkpoint is torn
// (a crash while saving) has nothing to resume: the run starts afresh,
// without the torn file, and gives the uninterrupted snapshot.
func TestTornCheckpointStartsAfresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	require.NoError(t, os.MkdirAll(ck, 0o755))
	torn := stream.EncodeCheckpoint(&stream.Checkpoint{ID: 9, States: map[string][]byte{"plays/0": {1, 2, 3}}})
	require.NoError(t, os.WriteFile(filepath.Join(ck, "ckpt-00000000000000000009.bin"), torn[:len(torn)-2], 0o644))
	base := []string{"-quiet", "-events", "20000"}
	require.Equal(t, 0, runMain(t, "", append(base, "-json", filepath.Join(dir, "a.json"))...).code)
	res := runMain(t, "", append(base, "-json", filepath.Join(dir, "b.json"), "-checkpoint-dir", ck, "-checkpoint-interval", "1ms")...)
	require.Equal(t, 0, res.code, res.stderr)
	snapshotsEqual(t, readSnapshot(t, filepath.Join(dir, "a.json")), readSnapshot(t, filepath.Join(dir, "b.json")))
	assert.Zero(t, latestCheckpoint(ck))
}

// TestCheckpointDirIgnoresPlantedFiles: a symlink planted where the run key
// used to be written (.juliawolf-run.json.tmp) is not followed, and the
// temporary files a killed run left are cleared when the next one starts.
func TestCheckpointDirIgnoresPlantedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	require.NoError(t, os.Mkdir(ck, 0o755))
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	for _, name := range []string{"." + runKeyFile + ".tmp", ".juliawolf-run.json-123.tmp", ".tmp-ckpt-456"} {
		require.NoError(t, os.Symlink(victim, filepath.Join(ck, name)))
	}
	stale := filepath.Join(ck, ".tmp-ckpt-789")
	require.NoError(t, os.WriteFile(stale, []byte("torn"), 0o644))

	// Interrupted, so the run key and checkpoints stay to look at.
	res := runUntilCheckpoint(t, ck, 1, "-quiet", "-json", "", "-events", "300000", "-checkpoint-dir", ck, "-checkpoint-interval", "5ms")
	require.Equal(t, 1, res.code, res.stderr)
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious\n", string(got), "the planted symlinks were not written through")
	assert.NoFileExists(t, stale, "stale temporaries are cleared at start")
	assert.NoFileExists(t, filepath.Join(ck, ".tmp-ckpt-456"))
	key, err := os.Lstat(filepath.Join(ck, runKeyFile))
	require.NoError(t, err)
	assert.True(t, key.Mode().IsRegular(), "the run key is a file of its own")
}
