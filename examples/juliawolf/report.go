package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	reportRule = "--------------------------------------------------------------"
	// reportWidth is the width every report line fits in at the default
	// settings (an 80-column terminal); only inputs with very long names or
	// huge counts can make a line longer.
	reportWidth = 80
	// Leaderboard bars are as wide as the line allows, within these.
	minBarWidth, maxBarWidth = 10, 30
	// maxPlatformWidth caps the top-platform column; longer names are cut.
	maxPlatformWidth = 16
)

// writeIntro writes the lines printed before the run: the banner and, for
// the generator, what it is about to simulate.
func writeIntro(w io.Writer, gen *Generator, input string) {
	_, _ = fmt.Fprintln(w, "Starting Julia Wolf Streaming Analytics Pipeline...")
	if gen == nil {
		name := input
		if name == "-" {
			name = "standard input"
		}
		_, _ = fmt.Fprintf(w, "Reading events from %s...\n\n", termSafe(name))
		return
	}
	_, _ = fmt.Fprintf(w, "Simulating event ingestion in %d waves...\n\n", len(gen.Waves()))
}

// waveLine is the line printed when a wave has been ingested. The counts of
// a generator's waves are right-aligned to the widest of them.
func waveLine(wv Wave) string {
	n := "(" + commas(wv.Events)
	return fmt.Sprintf("  Wave %d -- %-22s%*s events)... done", wv.Number, wv.Name, max(wv.countWidth+2, 7), n)
}

// writeReport writes the text report of a finished run. Every text from the
// input or the catalog goes through termSafe, so it cannot drive the
// terminal.
func writeReport(w io.Writer, s *Snapshot) {
	var b strings.Builder
	if len(s.Waves) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(reportRule + "\n  Julia Wolf -- Streaming Analytics Report\n" + reportRule + "\n\n")
	writeStats(&b, s)
	writeLeaderboard(&b, s.Leaderboard)
	if len(s.Leaderboard) > 0 {
		writeDeepDive(&b, s.Leaderboard[0])
	}
	_, _ = io.WriteString(w, b.String())
}

// writeStats writes the "Pipeline Stats" section.
func writeStats(b *strings.Builder, s *Snapshot) {
	window := s.Window
	b.WriteString("Pipeline Stats\n")
	stat := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-22s : %s\n", label, fmt.Sprintf(format, args...))
	}
	stat("Total events processed", "%s", commas(s.EventsProcessed))
	stat("Unique tracks streamed", "%s", commas(int64(s.UniqueTracks)))
	if n := len(s.Windows); n > 0 {
		// The rate in event time: on-time plays per second of the event
		// time the windows span, and that of the last window the event
		// time went past (the last window of the run is cut short by the
		// end of the input).
		first, last := s.Windows[0], s.Windows[n-1]
		var onTime int64
		for _, w := range s.Windows {
			onTime += w.Events
		}
		span := last.End.Sub(first.Start)
		stat("Event-time rate", "%s events/s  (average over %s of event time)", rate(float64(onTime)/span.Seconds()), shortDuration(span.Round(time.Second)))
		if n > 1 {
			c := s.Windows[n-2]
			stat("  last complete window", "%s events/s  (%s, %s events)", rate(float64(c.Events)/window.Seconds()),
				c.Start.UTC().Format("15:04:05"), commas(c.Events))
		}
	} else {
		stat("Event-time rate", "n/a (no on-time events)")
	}
	stat("Unique listeners (HLL)", "%s", commas(int64(s.UniqueListeners)))
	stat("Late events", "%s  (max delay %s, allowed lateness %s)",
		commas(s.EventsLate), shortDuration(s.MaxDelay), shortDuration(s.AllowedLateness))
	stat("Invalid lines", "%s", commas(s.EventsInvalid))
	if n := len(s.Windows); n > 0 {
		first, last := s.Windows[0].Start.UTC(), s.Windows[n-1].End.UTC()
		layout, endLayout := "2006-01-02 15:04:05", "2006-01-02 15:04:05 MST"
		if first.Format(time.DateOnly) == last.Format(time.DateOnly) {
			endLayout = "15:04:05 MST"
		}
		stat("Event-time windows", "%s x %s  (%s to %s)", commas(int64(n)), shortDuration(window),
			first.Format(layout), last.Format(endLayout))
	}
	stat("Processing rate", "%s events/s  (%.3f s wall)", commas(int64(math.Round(s.Run.EventsPerSec))), s.Run.WallSeconds)
}

// rate formats an events-per-second figure: two decimals below 100, whole
// numbers with separators above.
func rate(r float64) string {
	if r < 100 {
		return strconv.FormatFloat(r, 'f', 2, 64)
	}
	return commas(int64(math.Round(r)))
}

// leaderboardLayout is the column widths of the leaderboard, chosen so a row
// fits reportWidth: the rank, title, bar, stream count and platform.
type leaderboardLayout struct {
	rank, title, bar, streams, platform int
}

// fixedWidth is the width of a row but for the title and the bar.
func (l leaderboardLayout) fixedWidth() int {
	// "  " rank ". " title " " bar "  " streams " streams" "  " "  100.0%" "  " platform
	return 2 + l.rank + 2 + 1 + 2 + l.streams + len(" streams") + 2 + 8 + 2 + l.platform
}

func layoutLeaderboard(rows []LeaderRow) leaderboardLayout {
	var l leaderboardLayout
	for _, r := range rows {
		l.rank = max(l.rank, len(strconv.Itoa(r.Rank)))
		l.title = max(l.title, utf8.RuneCountInString(termSafe(r.Title)))
		l.streams = max(l.streams, len(commas(r.Streams)))
		l.platform = max(l.platform, utf8.RuneCountInString(termSafe(r.TopPlatform)))
	}
	l.platform = min(max(l.platform, len("top platform")), maxPlatformWidth)
	room := reportWidth - l.fixedWidth()
	l.bar = min(max(room-l.title, minBarWidth), maxBarWidth)
	l.title = max(min(l.title, room-l.bar), 4) // cut only if even a short bar leaves no room
	return l
}

// writeLeaderboard writes the leaderboard: ranks right-aligned, titles in
// full when the line allows, a bar against the leader, and a header naming
// the last two columns.
func writeLeaderboard(b *strings.Builder, rows []LeaderRow) {
	b.WriteString("\nTrack Leaderboard  (all time)\n")
	if len(rows) == 0 {
		b.WriteString("  (no plays)\n")
		return
	}
	l := layoutLeaderboard(rows)
	lead := 2 + l.rank + 2 + l.title + 1 + l.bar + 2 + l.streams + len(" streams")
	fmt.Fprintf(b, "%*s  %8s  %s\n", lead, "", "complete", "top platform")
	leader := rows[0].Streams
	for _, r := range rows {
		fmt.Fprintf(b, "  %*d. %s %s  %*s streams  %7.1f%%  %s\n",
			l.rank, r.Rank, fitRunes(termSafe(r.Title), l.title), bar(r.Streams, leader, l.bar),
			l.streams, commas(r.Streams), 100*r.CompletionRate, cutRunes(termSafe(r.TopPlatform), l.platform))
	}
}

// writeDeepDive writes the section on the top track.
func writeDeepDive(b *strings.Builder, r LeaderRow) {
	head := "Top Track Deep Dive -- " + termSafe(r.Title)
	if r.Album != "" {
		head += fmt.Sprintf("  (%s, %s)", termSafe(r.Album), clock(r.DurationMs))
	}
	fmt.Fprintf(b, "\n%s\n", cutRunes(head, reportWidth))
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-16s : %s\n", label, fmt.Sprintf(format, args...))
	}
	line("Streams", "%s  (rank %s, %s)", commas(r.Streams), commas(int64(r.Rank)), cutRunes(termSafe(r.TrackID), 24))
	line("Unique listeners", "%s  (HLL)", commas(int64(r.UniqueListeners)))
	line("Completion", "%.1f%%  (%s plays ran to the end)", 100*r.CompletionRate, commas(r.Completions))
	// p50 and p95 are exact for a few plays, else from a quantile sketch:
	// within 1 % of a listen time at that rank, and never outside the
	// shortest and longest play.
	how := "sketch, ±1%"
	if r.ExactListenMs {
		how = "exact"
	}
	line("Listen time", "p50 %s   p95 %s   (track %s; %s)", clock(r.P50MsPlayed), clock(r.P95MsPlayed), clock(r.DurationMs), how)
	nameWidth := 0
	for _, pc := range r.Platforms {
		nameWidth = max(nameWidth, utf8.RuneCountInString(termSafe(pc.Platform)))
	}
	nameWidth = min(nameWidth, 24)
	for i, pc := range r.Platforms {
		label := ""
		if i == 0 {
			label = "Platforms"
		}
		share := 100 * float64(pc.Plays) / float64(max(r.Streams, 1))
		text := fmt.Sprintf("%s %5.1f%%  %s", fitRunes(termSafe(pc.Platform), nameWidth), share, bar(pc.Plays, r.Streams, 20))
		if label == "" {
			fmt.Fprintf(b, "  %-16s   %s\n", "", text)
		} else {
			line(label, "%s", text)
		}
	}
}

// bar draws n against full as width cells of █ (filled, rounded to the
// nearest cell) and ░.
func bar(n, full int64, width int) string {
	filled := 0
	if full > 0 {
		filled = int(math.Round(float64(width) * float64(n) / float64(full)))
	}
	filled = min(max(filled, 0), width)
	return strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
}

// fitRunes pads s with spaces, or cuts it with an ellipsis, to exactly n runes.
func fitRunes(s string, n int) string {
	c := utf8.RuneCountInString(s)
	if c <= n {
		return s + strings.Repeat(" ", n-c)
	}
	return cutRunes(s, n)
}

// cutRunes cuts s to at most n runes, the last one an ellipsis if cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:max(n-1, 0)]) + "…"
}

// termSafe makes text from the input or the catalog safe to print on a
// terminal: C0 controls (tab and newline included), DEL, C1 controls and the
// bidirectional embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069) are written as escapes (\x1b, \u202e), so an escape
// sequence shows as text instead of driving the terminal; invalid UTF-8
// becomes U+FFFD.
func termSafe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r) // utf8.RuneError for invalid bytes: U+FFFD
		}
	}
	return b.String()
}

// commas formats n with thousands separators: 4500 -> "4,500".
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// clock formats milliseconds as m:ss, rounded down to the second, so a
// time never reads longer than it was (a play one millisecond short of the
// track's end does not read as the track's length).
func clock(ms int64) string {
	sec := ms / 1000
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// shortDuration formats d for the report: whole seconds below two minutes
// as seconds ("60s", as in "last 60s"), otherwise like time.Duration.String
// without trailing zero units ("5m", "1h30m").
func shortDuration(d time.Duration) string {
	if d%time.Second == 0 && d < 2*time.Minute {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
