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
//	go run ./examples/juliawolf -input plays.jsonl -checkpoint-dir ckpt   # rerun after a crash to resume
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
// Checkpoints: with -checkpoint-dir DIR the run checkpoints its whole state
// every -checkpoint-interval (default 1s) by brook's asynchronous barriers:
// the source's position (the generator's random state, or the input's byte
// offset and line number), the watermark generator, the open windows (by
// key group), the dead-letter count and the leaderboard, with the lengths
// of the -dump and -dead-letter files (stream/jsonl writers, exactly-once:
// flushed and fsynced at each checkpoint). Run again with the same flags after a crash (kill -9 included)
// and it resumes from the latest complete checkpoint: the input is read on
// from the checkpointed offset, -dump and -dead-letter are cut back to the
// checkpointed lengths and continued, and the final snapshot (all but "run")
// and both files are those of an uninterrupted run. DIR also holds
// juliawolf-run.json, what the run depends on (input path, size and
// modification time, catalog, settings): checkpoints of another run are
// refused (exit status 2); -parallel may differ (the state is kept by key
// group and restores at any parallelism up to 128). A finished run clears
// DIR, so the next run starts afresh.
//
// Signals: SIGINT (Ctrl-C) and SIGTERM stop a run. With -checkpoint-dir
// the first one stops it with a savepoint: no partial window fires, the
// final checkpoint is stored, and the program exits with one line saying
// to run the same command again, which resumes it and ends with the
// snapshot of an uninterrupted run. A second signal, or a run without
// -checkpoint-dir, stops at once (with checkpoints, a rerun resumes from
// the last periodic one). The exit status is 128 plus the signal's number
// (130 for SIGINT, 143 for SIGTERM), and no snapshot is written. Standard input cannot be resumed: -checkpoint-dir with -input -
// is refused. Without -checkpoint-dir nothing is checkpointed.
//
// Input is read with stream/jsonl. Hostile input has a defined outcome
// (see TestHostileInput). A line over 4 MiB (not counting its "\n" or
// "\r\n") is dead-lettered as "line too long" without being held in
// memory; shorter lines of megabytes are decoded. A blank line is
// dead-lettered ("not a JSON object: empty line"); a UTF-8 byte-order mark
// at the start of the input is skipped. Cancelling a run (a signal) also
// ends a read that waits: a line that never ends (-input /dev/zero), a
// named pipe without a writer, standard input. Invalid UTF-8 outside a string is
// invalid JSON; inside a string it becomes U+FFFD, as with encoding/json. NaN,
// infinities, fractions, exponents, negative numbers and numbers past int64
// are not a valid ms_played; the largest int64 is, and its p50/p95 are
// clamped to it. An event_time outside the int64-nanosecond range (before
// 1677-09-21T00:12:43.145224192Z or after 2262-04-11T23:47:16.854775807Z)
// is dead-lettered; any time inside it is valid, and the windows at the two
// ends are clipped to the range. A play far in the future moves the
// watermark like any other, so the plays after it are late; a play far in
// the past is late once the watermark has passed its window (any earlier
// play of today has done that), and opens its own window otherwise. An
// empty input gives a
// snapshot with zero events. A catalog that does not load (duplicate ids,
// missing fields, bad JSON) is a one-line error and exit status 2.
//
// Snapshot (-json FILE, default juliawolf_snapshot.json), schema_version 1.
// Times are RFC 3339 in UTC, durations in seconds, counts whole numbers,
// listen times in milliseconds. Fields:
//
//	schema_version     1; goes up only when a field changes meaning or goes away
//	events_processed   valid plays, late ones included
//	events_invalid     lines dead-lettered: undecodable, or a track the catalog lacks
//	events_late        plays whose window was closed when they arrived
//	unique_tracks      tracks with at least one play
//	unique_listeners   HyperLogLog estimate of distinct user_id (about 0.8 % error)
//	window_seconds     the -window size
//	windows[]          every window with an on-time play, by start:
//	  start, end         [start, end), aligned to the Unix epoch
//	  events             on-time plays in it
//	  unique_listeners   HLL estimate
//	  top_track          track_id with the most plays; a tie goes to the smallest id
//	throughput         the last window's start, events and events_per_sec
//	                   (events / window_seconds); null without windows
//	leaderboard[]      every track with plays, by streams descending, then track_id:
//	  rank               1-based
//	  track_id, title    from the catalog
//	  streams            plays, late ones included
//	  completion_rate    share (0 to 1) of plays with ms_played >= duration_ms
//	  top_platform       platform with the most plays; a tie goes to the smallest name
//	  unique_listeners   HLL estimate
//	  p50_ms_played      quantile sketch (DDSketch, 1 % relative error at the
//	  p95_ms_played        rank floor(q*(n-1))), clamped to the shortest and longest play
//	run                the only part that differs between identical runs:
//	  wall_seconds, events_per_sec   the run's own speed
//	  settings           the single-process run's -window, -max-delay and
//	                     -allowed-lateness (window_seconds, max_delay_seconds,
//	                     allowed_lateness_seconds), input ("" for the generator,
//	                     "-" for stdin), seed and events (generator only),
//	                     catalog ("" for the built-in one) and parallel;
//	                     absent from the distributed report
//
// Invariant: events_processed = sum(windows[].events) + events_late. The
// snapshot, -report and -windows-jsonl are written atomically (a temporary
// file renamed over the old one), so a failed run leaves the previous ones
// intact. -windows-jsonl FILE writes one JSON object per window, as in
// windows[], with schema_version and window_seconds on every line. A run of
// more than 100,000 windows warns on stderr.
//
// Command line: juliawolf -h lists the flags and the subcommands, juliawolf
// help [command] a command's flags, -version the build (module version, VCS
// revision, Go version); a bad flag or argument is one line suggesting -h
// and exit status 2. -log-level (off, the default, debug, info, warn, error)
// and -log-format (text, json) log the runtime's lifecycle events to
// stderr; -metrics also serves the Go runtime, process and build-info
// collectors. -metrics binds exactly the address it is given
// (127.0.0.1:9464: this machine only; :9464: every interface).
//
// Secured clusters (produce, worker, report): -kafka-tls, -kafka-ca,
// -kafka-cert/-kafka-key, -kafka-server-name for TLS; -kafka-sasl PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512 with -kafka-user, the password read from
// $JULIAWOLF_KAFKA_PASSWORD; -redis as host:port or a
// redis://user:password@host:port/db URL (rediss:// for TLS).
//
// Distributed mode (distributed.go): the same answer from several
// processes, on Kafka partitions and Redis:
//
//	juliawolf produce -brokers B -topic T [-input F | -events N] [-seed S] [-partitions P]
//	juliawolf worker  -brokers B -topic T -group G -redis ADDR [-idle-exit D] [-session-timeout D] [-instance ID]   # as many as you like
//	juliawolf report  -redis ADDR [-brokers B -topic T] [-json PATH]
//
// produce publishes the event lines (key user_id), each stamped with the
// watermark in force just before it in the input order (Kafka header
// brook-wm, over valid plays only). Workers share the partitions in a
// consumer group and decide lateness from that stamp, so per-partition
// processing calls exactly the plays late that one process would. Each
// worker keeps its partitions' aggregates and publishes them to Redis with
// the offset they cover, atomically and fenced by an epoch, and resumes a
// partition from its stored offset: restarts and rebalances lose nothing
// and count nothing twice. report merges the partitions into the snapshot
// of the single-process run (all but "run" equal); with -brokers and -topic
// it first checks that the offsets stored with the state have reached the
// end of every partition of the topic, and fails ("partial: ...", exit 1,
// nothing written) when they have not; without them it warns that the
// figures may be partial. A worker's -idle-exit is not an idle timeout:
// it stops once the offsets stored in Redis have covered the end of every
// partition of the topic for that long, so it does not exit while a dead
// worker's partitions wait for the group (-session-timeout, default 10s,
// or a static -instance id that a restarted worker reuses); a missing
// topic or unreachable Kafka or Redis fail it within -connect-timeout. All of them take
// -catalog, -window, -max-delay and -allowed-lateness, which must match
// (workers refuse Redis state written with other settings). Every mode,
// the default one included, serves /metrics (Prometheus) and /healthz with
// -metrics ADDR.
//
// Up-front checks: before any output is touched, the catalog must load,
// the -metrics listener bind, every destination (-json, -report,
// -dead-letter, -dump) be writable (an existing file is opened, never
// truncated), the input be readable and -checkpoint-dir belong to this run;
// otherwise the run fails with one line and exit status 2. Files in the
// checkpoint directory are written through new temporary files
// (os.CreateTemp, never a planted symlink), and temporaries a killed run
// left are removed when the next one starts.
//
// The pipeline (pipeline.go) is tested against referenceEngine, a
// hand-written single loop with a line reader of its own (in the tests).
//
// Exit status: 0 on success (also with invalid lines), 2 for bad flags or an
// unreadable input or catalog, 1 for a failure during the run.
package main
