package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// play returns an event line of track jw-01 with the given event time and
// ms_played (raw JSON).
func play(id, user, eventTime, msPlayed string) string {
	return `{"event_id":"` + id + `","user_id":"` + user + `","track_id":"jw-01","platform":"Spotify","event_time":"` + eventTime + `","ms_played":` + msPlayed + `}`
}

// deadLetterRow is one line of a dead-letter file.
type deadLetterRow struct {
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
	Raw    string `json:"raw"`
}

// readDeadLetters parses a dead-letter file; every line must be valid
// UTF-8 JSON, whatever the input was.
func readDeadLetters(t *testing.T, path string) []deadLetterRow {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, utf8.Valid(data), "the dead-letter file is valid UTF-8")
	var out []deadLetterRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d deadLetterRow
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d), "%q", sc.Text())
		out = append(out, d)
	}
	require.NoError(t, sc.Err())
	return out
}

// TestHostileInput feeds the program one kind of hostile input per case,
// through -input, and checks the documented outcome: the line is counted
// and dead-lettered with a one-line reason, or it is a valid play that
// lands in a window or counts as late. The reference engine must agree
// with the pipeline on every case.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	const ok1 = "2026-11-27T18:00:10Z"
	huge := strings.Repeat("m", 3<<20) // a 3 MiB field: under MaxLineBytes
	tests := []struct {
		name      string
		lines     []string
		processed int64
		late      int64
		windows   []string         // window starts
		dead      map[int64]string // line → reason (prefix)
		check     func(t *testing.T, s *Snapshot)
	}{
		{name: "a valid line of megabytes is decoded",
			lines:     []string{`{"padding":"` + huge + `",` + play("e1", "u-1", ok1, "1000")[1:]},
			processed: 1, windows: []string{"2026-11-27T18:00:00Z"}},
		{name: "a line over the limit is rejected without being held whole",
			lines:     []string{play("e1", "u-1", ok1, "1000"), strings.Repeat("{", MaxLineBytes+1), play("e3", "u-1", ok1, "1000")},
			processed: 2, windows: []string{"2026-11-27T18:00:00Z"},
			dead: map[int64]string{2: "line too long (4194305 bytes, limit 4194304)"}},
		{name: "invalid UTF-8 outside strings is invalid JSON",
			lines: []string{"\xff\xfe", `{"event_id":` + "\xc3\x28" + `}`},
			dead:  map[int64]string{1: "invalid JSON: invalid character", 2: "invalid JSON: invalid character"}},
		{name: "invalid UTF-8 inside a string is replaced by U+FFFD, as encoding/json does",
			lines:     []string{play("e1", "u-\xc3\x28", ok1, "1000"), play("e2", "u-\xff", ok1, "1000"), play("e3", "u-\ufffd(", ok1, "1000")},
			processed: 3, windows: []string{"2026-11-27T18:00:00Z"},
			check: func(t *testing.T, s *Snapshot) {
				assert.Equal(t, uint64(2), s.UniqueListeners, `"u-\xc3(" decodes as "u-\ufffd(", the same listener as e3`)
			}},
		{name: "NaN, infinities and huge numbers for ms_played",
			lines: []string{
				play("e1", "u-1", ok1, "NaN"), play("e2", "u-1", ok1, "Infinity"), play("e3", "u-1", ok1, "-Infinity"),
				play("e4", "u-1", ok1, "1e400"), play("e5", "u-1", ok1, "99999999999999999999999999"),
				play("e6", "u-1", ok1, "-1"), play("e7", "u-1", ok1, "9223372036854775807"),
			},
			processed: 1, windows: []string{"2026-11-27T18:00:00Z"},
			dead: map[int64]string{
				1: "invalid JSON", 2: "invalid JSON", 3: "invalid JSON", 4: "ms_played 1e400 is not an integer",
				5: "ms_played 99999999999999999999999999 is too large", 6: "ms_played -1 is negative",
			},
			check: func(t *testing.T, s *Snapshot) {
				require.Len(t, s.Leaderboard, 1)
				r := s.Leaderboard[0]
				assert.Equal(t, 1.0, r.CompletionRate, "the largest ms_played is a complete play")
				assert.Equal(t, int64(math.MaxInt64), r.P50MsPlayed, "the sketch's estimate, clamped to int64")
				assert.Equal(t, int64(math.MaxInt64), r.P95MsPlayed)
			}},
		{name: "times outside the representable range are rejected",
			lines: []string{
				play("e1", "u-1", "1677-09-21T00:12:43Z", "1"), play("e2", "u-1", "2262-04-12T00:00:00Z", "1"),
				play("e3", "u-1", "0001-01-01T00:00:00Z", "1"), play("e4", "u-1", "9999-12-31T23:59:59Z", "1"),
				play("e5", "u-1", "2026-11-27T18:00:10+99:00", "1"),
			},
			dead: map[int64]string{
				1: `event_time "1677-09-21T00:12:43Z" is out of range`, 2: `event_time "2262-04-12T00:00:00Z" is out of range`,
				3: "event_time", 4: "event_time", 5: "event_time",
			}},
		{name: "the first and last representable times make valid windows",
			lines: []string{
				play("e1", "u-1", "1677-09-21T00:12:43.145224192Z", "1"),
				play("e2", "u-2", "2262-04-11T23:47:16.854775807Z", "1"),
			},
			processed: 2, windows: []string{"1677-09-21T00:12:43Z", "2262-04-11T23:47:00Z"},
			check: func(t *testing.T, s *Snapshot) {
				// The windows are clipped to the representable range.
				assert.Equal(t, "1677-09-21T00:12:43.145224192Z", s.Windows[0].Start.Format(time.RFC3339Nano), "the first window starts at the start of time")
				assert.Equal(t, "1677-09-21T00:13:00Z", s.Windows[0].End.Format(time.RFC3339Nano), "and ends on its boundary")
				assert.Equal(t, "2262-04-11T23:47:16.854775807Z", s.Windows[1].End.Format(time.RFC3339Nano), "the last window ends at the end of time")
			}},
		{name: "a play far in the future moves event time: later plays are late",
			lines:     []string{play("e1", "u-1", ok1, "1"), play("e2", "u-2", "2200-01-01T00:00:00Z", "1"), play("e3", "u-3", ok1, "1"), play("e4", "u-4", "1700-01-01T00:00:00Z", "1")},
			processed: 4, late: 2, windows: []string{"2026-11-27T18:00:00Z", "2200-01-01T00:00:00Z"}},
		{name: "a play far in the past, first, opens its own window",
			lines:     []string{play("e1", "u-1", "1700-01-01T00:00:00Z", "1"), play("e2", "u-2", ok1, "1")},
			processed: 2, windows: []string{"1700-01-01T00:00:00Z", "2026-11-27T18:00:00Z"}},
		{name: "blank lines, whitespace and NUL bytes",
			lines: []string{"", "   ", "\x00", "\r"},
			dead:  map[int64]string{1: "not a JSON object: empty line", 2: "not a JSON object: empty line", 3: "invalid JSON", 4: "not a JSON object: empty line"}},
		{name: "an empty input", lines: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			input := strings.Join(tc.lines, "\n")
			in, snapPath, deadPath := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "s.json"), filepath.Join(dir, "dead.jsonl")
			require.NoError(t, os.WriteFile(in, []byte(input), 0o644))
			res := runMain(t, "", "-quiet", "-input", in, "-json", snapPath, "-dead-letter", deadPath)
			require.Equal(t, 0, res.code, res.stderr)
			s := readSnapshot(t, snapPath)
			assert.Equal(t, tc.processed, s.EventsProcessed, "processed")
			assert.Equal(t, int64(len(tc.dead)), s.EventsInvalid, "invalid")
			assert.Equal(t, tc.late, s.EventsLate, "late")
			checkInvariant(t, s)
			var starts []string
			for _, w := range s.Windows {
				starts = append(starts, w.Start.Format(time.RFC3339))
			}
			assert.Equal(t, tc.windows, starts, "windows")
			dead := readDeadLetters(t, deadPath)
			require.Len(t, dead, len(tc.dead))
			for _, d := range dead {
				assert.True(t, strings.HasPrefix(d.Reason, tc.dead[d.Line]), "line %d: reason %q, want %q...", d.Line, d.Reason, tc.dead[d.Line])
				assert.NotContains(t, d.Reason, "\n")
				assert.LessOrEqual(t, len(d.Raw), maxRawBytes+len("..."))
			}
			if tc.check != nil {
				tc.check(t, s)
			}

			// The hand-written reference agrees.
			cfg := Config{Window: time.Minute, MaxDelay: 5 * time.Second, Parallel: 2}
			ref, err := referenceEngine(context.Background(), cfg, NewLineSource(strings.NewReader(input), nil), DefaultCatalog())
			require.NoError(t, err)
			got, err := pipelineEngine(context.Background(), cfg, linesIn(strings.NewReader(input)), DefaultCatalog())
			require.NoError(t, err)
			assert.Equal(t, ref, got, "pipeline and reference")
		})
	}
}

// TestEmptyInputWithCheckpoints: an empty file, checkpointed or not, gives
// a valid snapshot with zero events.
func TestEmptyInputWithCheckpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "empty.jsonl")
	require.NoError(t, os.WriteFile(in, nil, 0o644))
	for _, args := range [][]string{nil, {"-checkpoint-dir", filepath.Join(dir, "ck"), "-checkpoint-interval", "1ms"}} {
		snap := filepath.Join(dir, "s.json")
		res := runMain(t, "", append([]string{"-quiet", "-input", in, "-json", snap}, args...)...)
		require.Equal(t, 0, res.code, res.stderr)
		s := readSnapshot(t, snap)
		assert.Zero(t, s.EventsProcessed)
		assert.Zero(t, s.EventsInvalid)
		assert.Empty(t, s.Windows)
		assert.Empty(t, s.Leaderboard)
		assert.Nil(t, s.Throughput)
	}
}

// TestHostileCatalogs: every bad catalog is a one-line error and exit
// status 2, before any input is read.
func TestHostileCatalogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct{ name, json, err string }{
		{"duplicate ids", `[{"track_id":"a","title":"A","duration_ms":1},{"track_id":"a","title":"B","duration_ms":2}]`, `catalog: catalog entries 1 and 2: duplicate track_id "a"`},
		{"duplicate ids, one escaped", `[{"track_id":"a","title":"A","duration_ms":1},{"track_id":"\u0061","title":"B","duration_ms":2}]`, `catalog: catalog entries 1 and 2: duplicate track_id "a"`},
		{"ids that differ only in invalid UTF-8", "[{\"track_id\":\"\xff\",\"title\":\"A\",\"duration_ms\":1},{\"track_id\":\"\xfe\",\"title\":\"B\",\"duration_ms\":2}]", "catalog: catalog entries 1 and 2: duplicate track_id \"\ufffd\""},
		{"a newline in an id", `[{"track_id":"a\nb","title":"","duration_ms":1}]`, `catalog: catalog entry 1 ("a\nb"): empty title`},
		{"NaN duration", `[{"track_id":"a","title":"A","duration_ms":NaN}]`, "catalog: invalid character 'N'"},
		{"huge duration", `[{"track_id":"a","title":"A","duration_ms":1e400}]`, "catalog: json: cannot unmarshal number 1e400"},
		{"null entry", `[null]`, "catalog entry 1: track_id, title and duration_ms are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			require.NoError(t, os.WriteFile(path, []byte(tc.json), 0o644))
			res := runMain(t, "", "-quiet", "-catalog", path, "-json", "")
			assert.Equal(t, 2, res.code)
			assert.True(t, strings.HasPrefix(res.stderr, "juliawolf: "+tc.err), "stderr %q, want %q...", res.stderr, tc.err)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line: %q", res.stderr)
		})
	}
}

// FuzzReadCatalog: any bytes give a catalog or a one-line error, never a
// panic; a catalog that loads is valid and reads back the same from its
// own JSON.
func FuzzReadCatalog(f *testing.F) {
	f.Add([]byte(`[{"track_id":"a","title":"A","album":"X","duration_ms":1000},{"track_id":"b","title":"B","duration_ms":2}]`))
	f.Add([]byte(`[{"track_id":"a","title":"A","duration_ms":1},{"track_id":"\u0061","title":"B","duration_ms":2}]`))
	f.Add([]byte(`[null, {}]`))
	f.Add([]byte(` [ ] `))
	f.Add([]byte("[{\"track_id\":\"\xff\",\"title\":\"\\n\",\"duration_ms\":9223372036854775807}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, err := ReadCatalog(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") || err.Error() == "" {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if cat.Len() == 0 {
			t.Fatal("empty catalog accepted")
		}
		seen := map[string]bool{}
		for i, tr := range cat.All() {
			if tr.TrackID == "" || tr.Title == "" || tr.DurationMs <= 0 || seen[tr.TrackID] {
				t.Fatalf("invalid track %d accepted: %+v", i, tr)
			}
			seen[tr.TrackID] = true
			if j, ok := cat.Index(tr.TrackID); !ok || j != i {
				t.Fatalf("Index(%q) = %d, %v", tr.TrackID, j, ok)
			}
		}
		again, err := json.Marshal(cat.tracks)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadCatalog(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("a loaded catalog does not read back: %v", err)
		}
		if !assert.ObjectsAreEqual(cat, back) {
			t.Fatalf("read back differs:\n%+v\n%+v", cat.tracks, back.tracks)
		}
	})
}
