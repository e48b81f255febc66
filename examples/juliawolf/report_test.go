package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaveLinesMatchTheDesign(t *testing.T) {
	t.Parallel()
	want := []string{
		"  Wave 1 -- New Release Spike      (1,200 events)... done",
		"  Wave 2 -- Weekend Surge          (2,500 events)... done",
		"  Wave 3 -- Steady State Baseline    (800 events)... done",
	}
	for i, w := range NewGenerator(DefaultCatalog(), DefaultEvents, 1).Waves() {
		assert.Equal(t, want[i], waveLine(w))
	}
}

// TestWaveLinesAlignAtMillions: the counts stay right-aligned however large.
func TestWaveLinesAlignAtMillions(t *testing.T) {
	t.Parallel()
	var ends []int
	for _, w := range NewGenerator(DefaultCatalog(), 20_000_000, 1).Waves() {
		line := waveLine(w)
		assert.Contains(t, line, "("+commas(w.Events)+" events)")
		ends = append(ends, strings.Index(line, " events)"))
	}
	assert.Equal(t, []int{ends[0], ends[0], ends[0]}, ends, "the counts end in one column")
}

// runes is the display width of a report line (every rune one column).
func runes(s string) int { return utf8.RuneCountInString(s) }

func TestLeaderboardAlignsRanksAndKeepsTitles(t *testing.T) {
	t.Parallel()
	s := &Snapshot{Window: time.Minute, Leaderboard: []LeaderRow{
		{Rank: 1, TrackID: "jw-01", Title: "In My Room", Streams: 4_798_166, CompletionRate: 0.59, TopPlatform: "Tidal"},
		{Rank: 2, TrackID: "jw-02", Title: "Kill You Off", Streams: 565, CompletionRate: 0.5, TopPlatform: "YouTube Music"},
		{Rank: 10, TrackID: "jw-09", Title: "Rookie of the Year", Streams: 1, TopPlatform: "Deezer"},
	}}
	var b strings.Builder
	writeReport(&b, s)
	var rows []string
	for line := range strings.SplitSeq(b.String(), "\n") {
		assert.LessOrEqual(t, runes(line), reportWidth, "%q", line)
		if strings.Contains(line, " streams ") {
			rows = append(rows, line)
		}
	}
	require.Len(t, rows, 3)
	assert.True(t, strings.HasPrefix(rows[0], "   1. In My Room "), "%q", rows[0])
	assert.True(t, strings.HasPrefix(rows[2], "  10. Rookie of the Year "), "ranks right-aligned, the title whole: %q", rows[2])
	// The bars start, and the stream counts end, in one column.
	barStart := func(row string) int { return runes(row[:strings.IndexAny(row, "█░")]) }
	countEnd := func(row string) int { return runes(row[:strings.Index(row, " streams")]) }
	for _, r := range rows[1:] {
		assert.Equal(t, barStart(rows[0]), barStart(r), "%q", r)
		assert.Equal(t, countEnd(rows[0]), countEnd(r), "%q", r)
	}
	assert.Contains(t, rows[0], " 4,798,166 streams ", "thousands separators")
	assert.Contains(t, rows[1], "YouTube Music")
}

// TestDefaultReportFits80Columns: the whole output of a default run, the
// report and the lines around it, fits an 80-column terminal.
func TestDefaultReportFits80Columns(t *testing.T) {
	t.Parallel()
	res := runMain(t, "", "-json", filepath.Join(t.TempDir(), "s.json"))
	require.Equal(t, 0, res.code, res.stderr)
	for line := range strings.SplitSeq(res.stdout, "\n") {
		assert.LessOrEqual(t, runes(line), reportWidth, "%q", line)
	}
	assert.Contains(t, res.stdout, "  10. ", "ten ranks, right-aligned")
	// Every count of four or more digits has separators.
	report, _, _ := strings.Cut(res.stdout, "Snapshot written to")
	assert.NotRegexp(t, `(^|[^\d,.:-])\d{4,}([^\d-]|$)`, strings.ReplaceAll(report, "2026-11-27", ""))
}

func TestTermSafe(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Spotify", "Spotify"},
		{"Beyoncé — Halo", "Beyoncé — Halo"},
		{"\x1b[2J\x1b]0;PWNED\x07", `\x1b[2J\x1b]0;PWNED\x07`},
		{"a\tb\nc\rd", `a\x09b\x0ac\x0dd`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\x9b31m`},
		{"evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"\u2066iso\u2069 \u202a\u202b\u202c\u202d", `\u2066iso\u2069 \u202a\u202b\u202c\u202d`},
		{"bad \xff utf8", "bad \ufffd utf8"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, termSafe(tc.in))
		})
	}
}

// TestReportEscapesControlCharacters: a platform, title or album with
// terminal escapes prints as text, on a real run over such input.
func TestReportEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	require.NoError(t, os.WriteFile(catalog, []byte(`[{"track_id":"x1","title":"T\u001b[31mred","album":"A\u202eB","duration_ms":1000,"weight":1}]`), 0o644))
	input := `{"event_id":"e1","user_id":"u","track_id":"x1","platform":"\u001b[2J\u001b]0;PWNED\u0007","event_time":"2026-11-27T18:00:00Z","ms_played":10}` + "\n"
	res := runMain(t, input, "-input", "-", "-catalog", catalog, "-json", "")
	require.Equal(t, 0, res.code, res.stderr)
	for _, c := range res.stdout {
		if c == '\n' {
			continue
		}
		assert.False(t, c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069),
			"control character %U in the report", c)
	}
	assert.Contains(t, res.stdout, `\x1b[2J\x1b]0;PWNED\x07`)
	assert.Contains(t, res.stdout, `T\x1b[31mred`)
	assert.Contains(t, res.stdout, `A\u202eB`)
}

func TestBar(t *testing.T) {
	t.Parallel()
	assert.Equal(t, strings.Repeat("█", 16)+strings.Repeat("░", 14), bar(565, 1083, 30))
	assert.Equal(t, strings.Repeat("█", 30), bar(7, 7, 30))
	assert.Equal(t, strings.Repeat("░", 30), bar(0, 7, 30))
	assert.Equal(t, strings.Repeat("░", 30), bar(0, 0, 30))
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "0", commas(0))
	assert.Equal(t, "999", commas(999))
	assert.Equal(t, "4,500", commas(4500))
	assert.Equal(t, "100,000,000", commas(100_000_000))
	assert.Equal(t, "-1,234", commas(-1234))
	assert.Equal(t, "3:03", clock(183000))
	assert.Equal(t, "0:00", clock(0))
	assert.Equal(t, "0:59", clock(59999), "rounded down: never longer than it was")
	assert.Equal(t, "1:00", clock(60000))
	assert.Equal(t, "60s", shortDuration(time.Minute))
	assert.Equal(t, "0s", shortDuration(0))
	assert.Equal(t, "5s", shortDuration(5*time.Second))
	assert.Equal(t, "5m", shortDuration(5*time.Minute))
	assert.Equal(t, "1h30m", shortDuration(90*time.Minute))
	assert.Equal(t, "1.5s", shortDuration(1500*time.Millisecond))
	assert.Equal(t, "ab  ", fitRunes("ab", 4))
	assert.Equal(t, "éé…", fitRunes("éééé", 3))
}

// TestDeepDiveSaysHowExact: the listen-time line names the exact
// quantiles of a few plays as exact, a sketch's as ±1 %.
func TestDeepDiveSaysHowExact(t *testing.T) {
	t.Parallel()
	for _, exact := range []bool{false, true} {
		var b strings.Builder
		writeDeepDive(&b, LeaderRow{Rank: 1, TrackID: "t", Title: "T", Streams: 3, DurationMs: 183_000,
			P50MsPlayed: 181_000, P95MsPlayed: 183_000, ExactListenMs: exact})
		want := "  Listen time      : p50 3:01   p95 3:03   (track 3:03; sketch, ±1%)\n"
		if exact {
			want = "  Listen time      : p50 3:01   p95 3:03   (track 3:03; exact)\n"
		}
		assert.Contains(t, b.String(), want)
	}
}
