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
	barWidth   = 30
	// titleColumn is where the leaderboard's bars start: "  1. " plus an
	// 18-rune title plus a space.
	titleColumn = 24
)

// writeIntro writes the lines printed before the run: the banner and, for
// the generator, what it is about to simulate.
func writeIntro(w io.Writer, gen *Generator, input string) {
	fmt.Fprintln(w, "Starting Julia Wolf Streaming Analytics Pipeline...")
	if gen == nil {
		name := input
		if name == "-" {
			name = "standard input"
		}
		fmt.Fprintf(w, "Reading events from %s...\n\n", name)
		return
	}
	fmt.Fprintf(w, "Simulating event ingestion in %d waves...\n\n", len(gen.Waves()))
}

// waveLine is the line printed when a wave has been ingested.
func waveLine(wv Wave) string {
	return fmt.Sprintf("  Wave %d -- %-22s%7s events)... done", wv.Number, wv.Name, "("+commas(wv.Events))
}

// writeReport writes the text report of a finished run.
func writeReport(w io.Writer, s *Snapshot) {
	var b strings.Builder
	if len(s.Waves) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(reportRule + "\n  Julia Wolf -- Streaming Analytics Report\n" + reportRule + "\n\n")

	window := s.Window
	b.WriteString("Pipeline Stats\n")
	stat := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-22s : %s\n", label, fmt.Sprintf(format, args...))
	}
	stat("Total events processed", "%s", commas(s.EventsProcessed))
	stat("Unique tracks streamed", "%d", s.UniqueTracks)
	if s.Throughput != nil {
		stat("Throughput (last "+shortDuration(window)+")", "%.2f events/sec", s.Throughput.EventsPerSec)
	} else {
		stat("Throughput (last "+shortDuration(window)+")", "n/a (no on-time events)")
	}
	stat("Unique listeners (HLL)", "%s", commas(int64(s.UniqueListeners)))
	stat("Late events", "%s  (max delay %s, allowed lateness %s)",
		commas(s.EventsLate), shortDuration(s.MaxDelay), shortDuration(s.AllowedLateness))
	stat("Invalid lines", "%s", commas(s.EventsInvalid))
	if n := len(s.Windows); n > 0 {
		first, last := s.Windows[0].Start, s.Windows[n-1].End
		stat("Event-time windows", "%s x %s  (%s to %s)", commas(int64(n)), shortDuration(window),
			first.Format("2006-01-02 15:04:05"), last.Format("2006-01-02 15:04:05 MST"))
	}
	stat("Processing rate", "%s events/sec  (%.3f s wall)", commas(int64(math.Round(s.Run.EventsPerSec))), s.Run.WallSeconds)

	b.WriteString("\nTrack Leaderboard  (all time)\n")
	if len(s.Leaderboard) == 0 {
		b.WriteString("  (no plays)\n")
	}
	var leader int64
	streamsWidth := 4
	if len(s.Leaderboard) > 0 {
		leader = s.Leaderboard[0].Streams
		streamsWidth = max(streamsWidth, len(strconv.FormatInt(leader, 10)))
	}
	for _, r := range s.Leaderboard {
		prefix := fmt.Sprintf("  %d. ", r.Rank)
		title := fitRunes(r.Title, titleColumn-len(prefix)-1)
		fmt.Fprintf(&b, "%s%s %s  %*d streams  complete: %.1f%%  top: %s\n",
			prefix, title, bar(r.Streams, leader, barWidth), streamsWidth, r.Streams, 100*r.CompletionRate, r.TopPlatform)
	}

	if len(s.Leaderboard) > 0 {
		writeDeepDive(&b, s.Leaderboard[0])
	}
	io.WriteString(w, b.String())
}

// writeDeepDive writes the section on the top track.
func writeDeepDive(b *strings.Builder, r LeaderRow) {
	fmt.Fprintf(b, "\nTop Track Deep Dive -- %s", r.Title)
	if r.Album != "" {
		fmt.Fprintf(b, "  (%s, %s)", r.Album, clock(r.DurationMs))
	}
	b.WriteString("\n")
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-16s : %s\n", label, fmt.Sprintf(format, args...))
	}
	line("Streams", "%s  (rank %d, %s)", commas(r.Streams), r.Rank, r.TrackID)
	line("Unique listeners", "%s  (HLL)", commas(int64(r.UniqueListeners)))
	line("Completion", "%.1f%%  (%s plays ran to the end)", 100*r.CompletionRate, commas(r.Completions))
	line("Listen time", "p50 %s   p95 %s   (track %s)", clock(r.P50MsPlayed), clock(r.P95MsPlayed), clock(r.DurationMs))
	nameWidth := 0
	for _, pc := range r.Platforms {
		nameWidth = max(nameWidth, utf8.RuneCountInString(pc.Platform))
	}
	for i, pc := range r.Platforms {
		label := ""
		if i == 0 {
			label = "Platforms"
		}
		share := 100 * float64(pc.Plays) / float64(max(r.Streams, 1))
		text := fmt.Sprintf("%s %5.1f%%  %s", fitRunes(pc.Platform, nameWidth), share, bar(pc.Plays, r.Streams, 20))
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
	runes := []rune(s)
	return string(runes[:max(n-1, 0)]) + "…"
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

// clock formats milliseconds as m:ss.
func clock(ms int64) string {
	sec := (ms + 500) / 1000
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
