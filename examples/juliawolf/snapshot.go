package main

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/brook-streams/brook/internal/atomicfile"
)

// SnapshotSchemaVersion is the snapshot's schema_version. It goes up when
// a field changes meaning or goes away; new fields do not change it.
const SnapshotSchemaVersion = 1

// Snapshot is the result of a run, written as JSON by -json. Field names
// are a contract (see the package documentation); fields tagged `json:"-"`
// only feed the text and HTML reports.
type Snapshot struct {
	// SchemaVersion is SnapshotSchemaVersion, set by WriteJSON.
	SchemaVersion   int     `json:"schema_version"`
	EventsProcessed int64   `json:"events_processed"` // valid plays, late ones included
	EventsInvalid   int64   `json:"events_invalid"`   // lines rejected: undecodable or unknown track
	EventsLate      int64   `json:"events_late"`      // plays whose window was closed on arrival
	UniqueTracks    int     `json:"unique_tracks"`    // tracks with at least one play
	UniqueListeners uint64  `json:"unique_listeners"` // HLL estimate of distinct user_id
	WindowSeconds   float64 `json:"window_seconds"`
	// Windows lists every window with at least one on-time play, by start.
	Windows []WindowRow `json:"windows"`
	// Throughput is the rate of the latest window in Windows; nil (JSON
	// null) when there is none.
	Throughput *Throughput `json:"throughput"`
	// Leaderboard lists every track with plays, by streams descending then
	// track_id.
	Leaderboard []LeaderRow `json:"leaderboard"`
	// Run is how fast this run went: the only part that differs between
	// identical runs.
	Run RunStats `json:"run"`

	// WindowTracks are the lines of -windows-jsonl, when the run was asked
	// for them (Config.WindowTracks): one per window and track with
	// on-time plays in it, by window start, then streams descending, then
	// track_id.
	WindowTracks []WindowTrackRow `json:"-"`
	// Waves are the generator's waves (none for -input), for the report.
	Waves []Wave `json:"-"`
	// Window, MaxDelay and AllowedLateness are the run's window size, B
	// and L, for the report.
	Window          time.Duration `json:"-"`
	MaxDelay        time.Duration `json:"-"`
	AllowedLateness time.Duration `json:"-"`
}

// WindowRow is one tumbling window's result.
type WindowRow struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	Events          int64     `json:"events"`
	UniqueListeners uint64    `json:"unique_listeners"`
	// TopTrack is the track_id with the most plays in the window; a tie
	// goes to the smallest track_id.
	TopTrack string `json:"top_track"`
}

// WindowTrackRow is one track's on-time plays in one window: a line of
// -windows-jsonl. Its fields mean what the leaderboard's do, for the
// window's plays only.
type WindowTrackRow struct {
	Start           time.Time `json:"window_start"`
	End             time.Time `json:"window_end"`
	TrackID         string    `json:"track_id"`
	Title           string    `json:"title"`
	Streams         int64     `json:"streams"`
	CompletionRate  float64   `json:"completion_rate"`
	TopPlatform     string    `json:"top_platform"`
	UniqueListeners uint64    `json:"unique_listeners"`
	P50MsPlayed     int64     `json:"p50_ms_played"`
	P95MsPlayed     int64     `json:"p95_ms_played"`
}

// Throughput is the event rate of one window.
type Throughput struct {
	WindowStart  time.Time `json:"window_start"`
	Events       int64     `json:"events"`
	EventsPerSec float64   `json:"events_per_sec"` // Events / window seconds
}

// LeaderRow is one track's all-time figures.
type LeaderRow struct {
	Rank    int    `json:"rank"` // 1-based
	TrackID string `json:"track_id"`
	Title   string `json:"title"`
	Streams int64  `json:"streams"`
	// CompletionRate is the share (0 to 1) of plays with
	// ms_played >= duration_ms.
	CompletionRate float64 `json:"completion_rate"`
	// TopPlatform is the platform with the most plays; a tie goes to the
	// smallest name.
	TopPlatform     string `json:"top_platform"`
	UniqueListeners uint64 `json:"unique_listeners"` // HLL estimate
	// P50MsPlayed and P95MsPlayed are exact for up to 256 plays, the
	// quantile sketch's estimate (within 1 %, never outside the shortest
	// and longest play) above.
	P50MsPlayed int64 `json:"p50_ms_played"`
	P95MsPlayed int64 `json:"p95_ms_played"`
	// ExactListenMs says whether they are exact.
	ExactListenMs bool `json:"-"`

	Album       string          `json:"-"`
	DurationMs  int64           `json:"-"`
	Completions int64           `json:"-"`
	Platforms   []PlatformCount `json:"-"` // by count descending, then name
}

// PlatformCount is how many plays came from one platform.
type PlatformCount struct {
	Platform string
	Plays    int64
}

// RunStats is the run's own speed, and the settings it ran with.
type RunStats struct {
	WallSeconds  float64 `json:"wall_seconds"`
	EventsPerSec float64 `json:"events_per_sec"` // events_processed / wall_seconds
	// Settings are the run's settings; absent from the distributed
	// report, whose settings live with the workers.
	Settings *RunSettings `json:"settings,omitempty"`
}

// RunSettings are the settings a single-process run was given.
type RunSettings struct {
	WindowSeconds          float64 `json:"window_seconds"`           // -window
	MaxDelaySeconds        float64 `json:"max_delay_seconds"`        // -max-delay (B)
	AllowedLatenessSeconds float64 `json:"allowed_lateness_seconds"` // -allowed-lateness (L)
	// Input is the -input path ("-" for standard input), "" for the
	// generator; Seed and Events are the generator's (absent with -input).
	Input    string  `json:"input"`
	Seed     *uint64 `json:"seed,omitempty"`
	Events   *int64  `json:"events,omitempty"`
	Catalog  string  `json:"catalog"` // -catalog path, "" for the built-in one
	Parallel int     `json:"parallel"`
}

// WriteJSON writes the snapshot to path, indented, replacing the file
// atomically: a failed write leaves the previous file as it was.
func (s *Snapshot) WriteJSON(path string) error {
	s.SchemaVersion = SnapshotSchemaVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// windowLine is one line of -windows-jsonl.
type windowLine struct {
	SchemaVersion int     `json:"schema_version"`
	WindowSeconds float64 `json:"window_seconds"`
	WindowTrackRow
}

// WriteWindowsJSONL writes WindowTracks to path, one JSON object per
// window and track, replacing the file atomically: the fields of
// WindowTrackRow plus schema_version and window_seconds on every line, so
// each line stands alone in a warehouse table.
func (s *Snapshot) WriteWindowsJSONL(path string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, row := range s.WindowTracks {
			if err := enc.Encode(windowLine{SnapshotSchemaVersion, s.WindowSeconds, row}); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
}
