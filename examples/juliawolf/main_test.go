package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type runResult struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return runResult{code, stdout.String(), stderr.String()}
}

func readSnapshot(t *testing.T, path string) *Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var s Snapshot
	require.NoError(t, json.Unmarshal(data, &s))
	return &s
}

// TestDefaultRun is `go run ./examples/juliawolf`: the report's shape and
// the snapshot's figures.
func TestDefaultRun(t *testing.T) {
	t.Parallel()
	snapPath := filepath.Join(t.TempDir(), "snap.json")
	res := runMain(t, "", "-json", snapPath)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, res.stderr)

	assert.True(t, strings.HasPrefix(res.stdout, `Starting Julia Wolf Streaming Analytics Pipeline...
Simulating event ingestion in 3 waves...

  Wave 1 -- New Release Spike      (1,200 events)... done
  Wave 2 -- Weekend Surge          (2,500 events)... done
  Wave 3 -- Steady State Baseline    (800 events)... done

--------------------------------------------------------------
  Julia Wolf -- Streaming Analytics Report
--------------------------------------------------------------

Pipeline Stats
  Total events processed : 4,500
  Unique tracks streamed : 10
  Event-time rate        : `), res.stdout)
	assert.Contains(t, res.stdout, "    last complete window : ")
	assert.Contains(t, res.stdout, "\nTrack Leaderboard  (all time)\n")
	assert.Contains(t, res.stdout, "\n   1. In My Room         ███████████████  ")
	assert.Contains(t, res.stdout, "\n   2. Kill You Off       ")
	assert.Contains(t, res.stdout, "\n  10. ")
	assert.Contains(t, res.stdout, "Unique listeners (HLL) : ")
	assert.Contains(t, res.stdout, "\nTop Track Deep Dive -- In My Room  (Pressure, 3:03)\n")
	assert.Contains(t, res.stdout, "Listen time      : p50 ")
	assert.Contains(t, res.stdout, "(track 3:03; sketch, ±1%)\n", "1,111 plays: the sketch's quantiles")
	assert.Contains(t, res.stdout, "Processing rate        : ")
	assert.Contains(t, res.stdout, "Snapshot written to "+snapPath+"\n")

	s := readSnapshot(t, snapPath)
	assert.Equal(t, int64(4500), s.EventsProcessed)
	assert.Zero(t, s.EventsInvalid)
	assert.Positive(t, s.EventsLate, "offline plays show up late")
	assert.Less(t, s.EventsLate, int64(100))
	assert.Equal(t, 10, s.UniqueTracks)
	assert.Equal(t, 60.0, s.WindowSeconds)
	assert.Greater(t, s.UniqueListeners, uint64(1000))
	checkInvariant(t, s)
	require.Len(t, s.Leaderboard, 10)
	assert.Equal(t, "jw-01", s.Leaderboard[0].TrackID)
	assert.Equal(t, "In My Room", s.Leaderboard[0].Title)
	assert.Equal(t, "jw-02", s.Leaderboard[1].TrackID)
	assert.Equal(t, "Kill You Off", s.Leaderboard[1].Title)
	var streams int64
	tops := map[string]bool{}
	cat := DefaultCatalog()
	for i, r := range s.Leaderboard {
		tops[r.TopPlatform] = true
		tr, _ := cat.Lookup(r.TrackID)
		assert.LessOrEqual(t, r.P95MsPlayed, tr.DurationMs, "no play runs past the track")
		assert.Equal(t, i+1, r.Rank)
		streams += r.Streams
		assert.NotEmpty(t, r.TopPlatform)
		assert.Greater(t, r.CompletionRate, 0.3)
		assert.Less(t, r.CompletionRate, 0.8)
		assert.LessOrEqual(t, r.P50MsPlayed, r.P95MsPlayed)
		assert.LessOrEqual(t, r.UniqueListeners, uint64(r.Streams))
	}
	assert.Equal(t, s.EventsProcessed, streams)
	assert.GreaterOrEqual(t, len(tops), 3, "the top platform varies by track: %v", tops)
	require.Greater(t, len(s.Windows), 40)
	for i := 1; i < len(s.Windows); i++ {
		assert.True(t, s.Windows[i-1].End.Compare(s.Windows[i].Start) <= 0, "windows by start, not overlapping")
	}
	last := s.Windows[len(s.Windows)-1]
	require.NotNil(t, s.Throughput)
	assert.Equal(t, Throughput{WindowStart: last.Start, Events: last.Events, EventsPerSec: float64(last.Events) / 60}, *s.Throughput)
	assert.Positive(t, s.Run.WallSeconds)
	assert.Positive(t, s.Run.EventsPerSec)

	// The JSON has exactly the contract's field names.
	raw := map[string]json.RawMessage{}
	data, err := os.ReadFile(snapPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.ElementsMatch(t, []string{"schema_version", "events_processed", "events_invalid", "events_late", "unique_tracks", "unique_listeners",
		"window_seconds", "windows", "throughput", "leaderboard", "run"}, keys(raw))
	assert.Contains(t, string(data), `"start": "2026-11-27T18:00:00Z"`)
	var board []map[string]any
	require.NoError(t, json.Unmarshal(raw["leaderboard"], &board))
	assert.ElementsMatch(t, []string{"rank", "track_id", "title", "streams", "completion_rate", "top_platform", "unique_listeners",
		"p50_ms_played", "p95_ms_played"}, keys(board[0]))
	var windows []map[string]any
	require.NoError(t, json.Unmarshal(raw["windows"], &windows))
	assert.ElementsMatch(t, []string{"start", "end", "events", "unique_listeners", "top_track"}, keys(windows[0]))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// snapshotsEqual compares two snapshots, Run aside.
func snapshotsEqual(t *testing.T, a, b *Snapshot) {
	t.Helper()
	a2, b2 := *a, *b
	a2.Run, b2.Run = RunStats{}, RunStats{}
	assert.Equal(t, a2, b2)
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	require.Equal(t, 0, runMain(t, "", "-quiet", "-json", p("a.json"), "-parallel", "1").code)
	require.Equal(t, 0, runMain(t, "", "-quiet", "-json", p("b.json"), "-parallel", "4").code)
	require.Equal(t, 0, runMain(t, "", "-quiet", "-json", p("c.json"), "-seed", "2").code)
	a, b, c := readSnapshot(t, p("a.json")), readSnapshot(t, p("b.json")), readSnapshot(t, p("c.json"))
	snapshotsEqual(t, a, b)
	assert.NotEqual(t, a.Leaderboard, c.Leaderboard, "another seed, other plays")
}

// TestDumpReadsBack runs the generator with -dump, then feeds the dump back
// through -input: the snapshots must be identical.
func TestDumpReadsBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	res := runMain(t, "", "-quiet", "-events", "3000", "-seed", "9", "-json", p("gen.json"), "-dump", p("plays.jsonl"))
	require.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, res.stdout, "-quiet prints nothing")
	res = runMain(t, "", "-input", p("plays.jsonl"), "-json", p("file.json"))
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Reading events from "+p("plays.jsonl")+"...\n")
	assert.NotContains(t, res.stdout, "Wave 1")
	gen, file := readSnapshot(t, p("gen.json")), readSnapshot(t, p("file.json"))
	assert.Equal(t, int64(3000), gen.EventsProcessed)
	snapshotsEqual(t, gen, file)

	data, err := os.ReadFile(p("plays.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 3000, bytes.Count(data, []byte("\n")))
}

func TestInvalidLinesAreDeadLettered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := func(id, track, ts string) string {
		return `{"event_id":"` + id + `","user_id":"u-1","track_id":"` + track + `","platform":"Spotify","event_time":"` + ts + `","ms_played":1000}`
	}
	input := strings.Join([]string{
		line("e1", "jw-01", "2026-11-27T18:00:10Z"), // 1
		`{"event_id":"e2"`,                          // 2: broken JSON
		line("e3", "jw-99", "2026-11-27T18:00:11Z"), // 3: unknown track
		"", // 4: blank
		line("e5", "jw-02", "2026-11-27T18:01:10Z"),      // 5
		line("e6", "jw-02", "2026-11-27T18:00:30+00:00"), // 6: late (18:01:10 - 5s >= 18:01:00)
		`[1,2,3]`,                                      // 7
		line("e8", "jw-01", "yesterday"),               // 8
		strings.Repeat("x", MaxLineBytes+10),           // 9: too long
		line("e10", "jw-03", "2026-11-27T18:01:20.5Z"), // 10, no final newline
	}, "\n")
	deadPath := filepath.Join(dir, "dead.jsonl")
	snapPath := filepath.Join(dir, "snap.json")
	res := runMain(t, input, "-input", "-", "-dead-letter", deadPath, "-json", snapPath)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Reading events from standard input...")
	assert.Contains(t, res.stdout, "Invalid lines          : 6\n")
	assert.Contains(t, res.stdout, "Dead letters written to "+deadPath+" (6)\n")

	s := readSnapshot(t, snapPath)
	assert.Equal(t, int64(4), s.EventsProcessed)
	assert.Equal(t, int64(6), s.EventsInvalid)
	assert.Equal(t, int64(1), s.EventsLate)
	assert.Equal(t, 3, s.UniqueTracks)
	checkInvariant(t, s)

	f, err := os.Open(deadPath)
	require.NoError(t, err)
	defer f.Close()
	type dead struct {
		Line   int64  `json:"line"`
		Reason string `json:"reason"`
		Raw    string `json:"raw"`
	}
	var got []dead
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d dead
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d), sc.Text())
		got = append(got, d)
	}
	require.NoError(t, sc.Err())
	require.Len(t, got, 6)
	var lines []int64
	for _, d := range got {
		lines = append(lines, d.Line)
	}
	// Decode failures are written as read, unknown tracks by enrichment:
	// the order between the two is not part of the contract.
	assert.ElementsMatch(t, []int64{2, 3, 4, 7, 8, 9}, lines)
	reasons := map[int64]string{}
	for _, d := range got {
		reasons[d.Line] = d.Reason
	}
	assert.Equal(t, "invalid JSON: unexpected end of JSON input", reasons[2])
	assert.Equal(t, `unknown track_id "jw-99"`, reasons[3])
	assert.Equal(t, "not a JSON object: empty line", reasons[4])
	assert.Equal(t, "not a JSON object: found array", reasons[7])
	assert.Equal(t, `event_time "yesterday" is not RFC 3339`, reasons[8])
	assert.Equal(t, "line too long (4194314 bytes, limit 4194304)", reasons[9])
	assert.Equal(t, `{"event_id":"e2"`, got[0].Raw)
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	badCatalog := write("bad-catalog.json", `[{"track_id":"a","title":"A","duration_ms":1},{"track_id":"a","title":"B","duration_ms":2}]`)
	goodCatalog := write("catalog.json", `[{"track_id":"a","title":"A","album":"X","duration_ms":1000}]`)
	plays := write("plays.jsonl", goodLine+"\n")
	snap := filepath.Join(dir, "s.json")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{"bad duration", []string{"-window", "soon"}, 2, `invalid value "soon" for flag -window`},
		{"zero window", []string{"-window", "0s"}, 2, "-window must be positive"},
		{"negative delay", []string{"-max-delay", "-1s"}, 2, "-max-delay must be >= 0"},
		{"negative lateness", []string{"-allowed-lateness", "-1ms"}, 2, "-allowed-lateness must be >= 0"},
		{"negative events", []string{"-events", "-5"}, 2, "-events must be >= 0"},
		{"zero parallel", []string{"-parallel", "0"}, 2, "-parallel must be >= 1"},
		{"parallel above the key groups", []string{"-parallel", "100000"}, 2, "-parallel must be at most 128 (the pipeline's maximum parallelism"},
		{"stray argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"dump with input", []string{"-input", plays, "-dump", filepath.Join(dir, "d.jsonl")}, 2, "cannot be used with -input"},
		{"missing input", []string{"-input", filepath.Join(dir, "nope.jsonl")}, 2, "no such file or directory"},
		{"input is a directory", []string{"-input", dir}, 2, "is a directory"},
		{"missing catalog", []string{"-catalog", filepath.Join(dir, "nope.json")}, 2, "no such file or directory"},
		{"bad catalog", []string{"-catalog", badCatalog}, 2, `duplicate track_id "a"`},
		{"dead letters in a missing directory", []string{"-dead-letter", filepath.Join(dir, "no", "dead.jsonl")}, 2, "no such file or directory"},
		{"snapshot in a missing directory", []string{"-json", filepath.Join(dir, "no", "s.json")}, 2, "no such file or directory"},
		{"report in a missing directory", []string{"-report", filepath.Join(dir, "no", "r.html")}, 2, "no such file or directory"},
		{"help", []string{"-h"}, 0, ""},
		{"custom catalog", []string{"-catalog", goodCatalog, "-events", "100", "-json", snap}, 0, ""},
		{"input file, every play unknown to a custom catalog", []string{"-catalog", goodCatalog, "-input", plays, "-json", snap}, 0, ""},
		{"no events", []string{"-events", "0", "-json", snap}, 0, ""},
		{"empty snapshot path disables it", []string{"-json", "", "-events", "10"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, "", append([]string{"-quiet"}, tc.args...)...)
			assert.Equal(t, tc.code, res.code, res.stderr)
			if tc.stderr == "" {
				assert.Empty(t, res.stderr)
				return
			}
			assert.Contains(t, res.stderr, tc.stderr)
			assert.True(t, strings.HasPrefix(res.stderr, "juliawolf: "), res.stderr)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line: %q", res.stderr)
		})
	}
}

func TestReadFailureExitsOne(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	stdin := iotest.ErrReader(errors.New("device vanished"))
	code := run(context.Background(), []string{"-input", "-", "-json", ""}, stdin, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "juliawolf: reading input: jsonl: read at offset 0: device vanished\n", stderr.String())
}

func TestCancelledRunExitsOne(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-events", "100000", "-json", ""}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "juliawolf: context canceled\n", stderr.String())
}

func TestEmptyRun(t *testing.T) {
	t.Parallel()
	snap := filepath.Join(t.TempDir(), "s.json")
	res := runMain(t, "", "-input", "-", "-json", snap)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Total events processed : 0\n")
	assert.Contains(t, res.stdout, "(no plays)")
	data, err := os.ReadFile(snap)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"windows": [],`)
	assert.Contains(t, string(data), `"throughput": null,`)
	assert.Contains(t, string(data), `"leaderboard": [],`)
}

// TestFailedStartTouchesNoOutput: a run that cannot start (a busy -metrics
// port, a destination that cannot be written) fails with exit status 2
// before any output is touched: existing files keep their contents.
func TestFailedStartTouchesNoOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	outputs := map[string]string{"dead": "old dead letters\n", "dump": "old dump\n", "snap": "{\"old\":1}\n", "report": "<p>old</p>\n"}
	for name, content := range outputs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	common := []string{"-quiet", "-events", "100", "-dead-letter", filepath.Join(dir, "dead"), "-dump", filepath.Join(dir, "dump"),
		"-json", filepath.Join(dir, "snap"), "-report", filepath.Join(dir, "report")}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"busy metrics port", []string{"-metrics", busy.Addr().String()}, "-metrics"},
		{"snapshot directory missing", []string{"-json", filepath.Join(dir, "no", "snap")}, "no such file or directory"},
		{"checkpoint directory is a file", []string{"-checkpoint-dir", filepath.Join(dir, "dump")}, "-checkpoint-dir"},
	}
	for _, tc := range cases {
		res := runMain(t, "", append(append([]string{}, common...), tc.args...)...)
		assert.Equal(t, 2, res.code, "%s: %s", tc.name, res.stderr)
		assert.Contains(t, res.stderr, tc.want, tc.name)
		for name, content := range outputs {
			got, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			assert.Equal(t, content, string(got), "%s: %s untouched", tc.name, name)
		}
	}
}
