package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"-help"}} {
		res := runMain(t, "", args...)
		require.Equal(t, exitOK, res.code, res.stderr)
		checkTopHelp(t, res.stdout)
	}
	var stdout, stderr bytes.Buffer
	code, ok := runCommand([]string{"help"}, &stdout, &stderr)
	require.True(t, ok)
	assert.Equal(t, exitOK, code)
	checkTopHelp(t, stdout.String())
}

func checkTopHelp(t *testing.T, out string) {
	t.Helper()
	for _, c := range []string{"produce", "worker", "report"} {
		lines := 0
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, "  "+c+" ") {
				lines++
				assert.LessOrEqual(t, len(line), 80, "%q", line)
			}
		}
		assert.Equal(t, 1, lines, "one line for %s in\n%s", c, out)
	}
	assert.Contains(t, out, "  -events int")
	assert.Contains(t, out, "  -version")
}

func TestHelpCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"a command's flags", []string{"help", "worker"}, exitOK, "Usage: juliawolf worker [flags]", ""},
		{"produce", []string{"help", "produce"}, exitOK, "Usage: juliawolf produce [flags]", ""},
		{"unknown command", []string{"help", "frobnicate"}, exitUsage, "", `juliawolf help: unknown command "frobnicate" (see juliawolf -h)`},
		{"too many", []string{"help", "worker", "report"}, exitUsage, "", "(see juliawolf -h)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code, ok := runCommand(tc.args, &stdout, &stderr)
			require.True(t, ok)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, stdout.String(), tc.stdout)
			assert.Contains(t, stderr.String(), tc.stderr)
			if tc.code != exitOK {
				assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line")
			}
		})
	}
	var stdout, stderr bytes.Buffer
	_, ok := runCommand([]string{"-events", "10"}, &stdout, &stderr)
	assert.False(t, ok, "flags are the default run's")
}

func TestBadCommandLineSuggestsHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-bogus"}, {"extra"}, {"-log-level", "loud"}, {"-log-format", "xml"}} {
		res := runMain(t, "", args...)
		assert.Equal(t, exitUsage, res.code, "%v", args)
		assert.True(t, strings.HasSuffix(res.stderr, "(see juliawolf -h)\n"), "%v: %q", args, res.stderr)
		assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line")
		assert.Empty(t, res.stdout)
	}
	var stdout, stderr bytes.Buffer
	code, _ := runCommand([]string{"report", "-bogus"}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "(see juliawolf report -h)")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	res := runMain(t, "", "-version")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.True(t, strings.HasPrefix(res.stdout, "juliawolf "), res.stdout)
	assert.Contains(t, res.stdout, " go1.", "the Go version from the build info")
	assert.Equal(t, 1, strings.Count(res.stdout, "\n"))
}

// TestLogFlags: -log-level info logs the runtime's lifecycle to stderr in
// the chosen format; the default is silent.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	res := runMain(t, "", "-quiet", "-json", "", "-log-level", "info", "-log-format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	var records int
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "a JSON log line: %q", sc.Text())
		assert.Contains(t, rec, "level")
		records++
	}
	assert.Positive(t, records, "the lifecycle is logged")

	res = runMain(t, "", "-quiet", "-json", "", "-log-level", "info")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "level=INFO")

	res = runMain(t, "", "-quiet", "-json", "")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Empty(t, res.stderr, "silent by default")
}

func TestSnapshotSettingsAndWindowsJSONL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	snapPath, windowsPath := filepath.Join(dir, "s.json"), filepath.Join(dir, "w.jsonl")
	res := runMain(t, "", "-quiet", "-json", snapPath, "-windows-jsonl", windowsPath, "-window", "30s", "-seed", "7", "-events", "2000")
	require.Equal(t, exitOK, res.code, res.stderr)
	snap := readSnapshot(t, snapPath)
	assert.Equal(t, SnapshotSchemaVersion, snap.SchemaVersion)
	require.NotNil(t, snap.Run.Settings)
	st := snap.Run.Settings
	assert.Equal(t, 30.0, st.WindowSeconds)
	assert.Equal(t, 5.0, st.MaxDelaySeconds)
	assert.Equal(t, 0.0, st.AllowedLatenessSeconds)
	require.NotNil(t, st.Seed)
	require.NotNil(t, st.Events)
	assert.Equal(t, uint64(7), *st.Seed)
	assert.Equal(t, int64(2000), *st.Events)
	assert.Empty(t, st.Input)

	// One line per window and track: per window they add up to the
	// window's row, the top one is its top track, and they come by window,
	// then streams descending, then track_id.
	data, err := os.ReadFile(windowsPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Greater(t, len(lines), len(snap.Windows), "more lines than windows")
	cat := DefaultCatalog()
	byStart := map[time.Time][]windowLine{}
	var prev *windowLine
	var total int64
	for i, line := range lines {
		var got windowLine
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		assert.Equal(t, SnapshotSchemaVersion, got.SchemaVersion)
		assert.Equal(t, 30.0, got.WindowSeconds)
		assert.Equal(t, 30*time.Second, got.End.Sub(got.Start), "line %d", i+1)
		tr, ok := cat.Lookup(got.TrackID)
		require.True(t, ok, "line %d: track %q", i+1, got.TrackID)
		assert.Equal(t, tr.Title, got.Title)
		assert.Positive(t, got.Streams)
		assert.LessOrEqual(t, got.P50MsPlayed, got.P95MsPlayed)
		assert.LessOrEqual(t, got.P95MsPlayed, tr.DurationMs, "line %d: p95 above the track's length", i+1)
		assert.LessOrEqual(t, got.UniqueListeners, uint64(got.Streams)+uint64(got.Streams)/50+1)
		if prev != nil {
			order := cmp.Or(prev.Start.Compare(got.Start), cmp.Compare(got.Streams, prev.Streams), cmp.Compare(prev.TrackID, got.TrackID))
			assert.Negative(t, order, "line %d out of order", i+1)
		}
		byStart[got.Start] = append(byStart[got.Start], got)
		total += got.Streams
		prev = &got
	}
	require.Len(t, byStart, len(snap.Windows), "the windows of the lines are the snapshot's")
	for _, w := range snap.Windows {
		rows := byStart[w.Start]
		require.NotEmpty(t, rows, "window %v", w.Start)
		var sum int64
		for _, r := range rows {
			sum += r.Streams
		}
		assert.Equal(t, w.Events, sum, "window %v: the tracks' streams add up to its events", w.Start)
		assert.Equal(t, w.TopTrack, rows[0].TrackID, "window %v: top track", w.Start)
	}
	assert.Equal(t, snap.EventsProcessed-snap.EventsLate, total)
}

// TestManyWindowsWarn: a run that would make more than windowWarnLimit
// windows says so on stderr before it starts.
func TestManyWindowsWarn(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	gen := NewGenerator(DefaultCatalog(), 2_000_000, 1)
	warnWindows(options{window: 1e6}, gen, &stderr) // 1ms
	assert.Contains(t, stderr.String(), "juliawolf: warning: about 2,000,000 windows of 1ms")
	stderr.Reset()
	warnWindows(options{window: 60e9}, gen, &stderr)
	assert.Empty(t, stderr.String())
}

func TestProcessMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	require.NoError(t, registerProcessMetrics(reg))
	fams, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_build_info"} {
		assert.True(t, names[want], "%s in %v", want, names)
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		assert.True(t, names["process_cpu_seconds_total"], "the process collector")
	}
}
