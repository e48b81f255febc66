// Command juliawolf is brook's flagship example: the Julia Wolf
// streaming-analytics pipeline.
//
// It reads plays of Julia Wolf tracks — from its built-in generator, which
// models three waves of traffic (a new-release spike, a weekend surge and a
// steady-state baseline) with out-of-order and offline plays, or from a JSON
// Lines file — enriches them with catalog metadata, aggregates them in
// tumbling event-time windows with HyperLogLog listener counts, and prints a
// leaderboard report and writes a JSON snapshot:
//
//	go run ./examples/juliawolf
//	go run ./examples/juliawolf -input plays.jsonl -dead-letter rejected.jsonl
//	go run ./examples/juliawolf -events 100000000 -quiet
//
// Event line (JSON Lines, one object per line):
//
//	{"event_id":"e-0000001","user_id":"u-004211","track_id":"jw-01","platform":"Spotify","event_time":"2026-11-27T18:00:00.250Z","ms_played":171000}
//
// Windows are tumbling, aligned to the Unix epoch. The watermark after an
// event is W = maxSeen - B - 1 (B is -max-delay); a window [s,e) is closed
// once W >= e-1+L (L is -allowed-lateness), and an event whose window is
// closed when it arrives is late: it counts in the all-time figures but in no
// window. Lines that do not decode, or name a track the catalog lacks, are
// counted as invalid and written to -dead-letter with their 1-based line
// number; the run goes on. A dead letter is {"line":N,"reason":"...","raw":"..."}:
// raw is the line as read (its first 4 KiB), or, for a track the catalog
// lacks, the decoded play written back in the event-line format.
//
// The computation sits behind one function type, Engine: referenceEngine is
// a hand-written single loop (the benchmark baseline and test oracle), and
// mainEngine selects the one the program runs.
//
// Exit status: 0 on success (also with invalid lines), 2 for bad flags or an
// unreadable input or catalog, 1 for a failure during the run.
package main
