// Command juliawolf is brook's flagship example: the Julia Wolf
// streaming-analytics pipeline. It reads plays of Julia Wolf tracks (from
// its generator, three waves of traffic with out-of-order and offline
// plays, or from JSON Lines), enriches them with the catalog, aggregates
// them per track in tumbling event-time windows (counts, completions,
// platforms, a HyperLogLog of listeners, listen-time quantiles), prints a
// leaderboard report and writes a JSON snapshot:
//
//	go run ./examples/juliawolf
//	go run ./examples/juliawolf -input plays.jsonl -dead-letter rejected.jsonl
//	go run ./examples/juliawolf -input plays.jsonl -checkpoint-dir ckpt
//
// pipeline.go is the whole dataflow. README.md in this directory documents
// the event-time rules, dead letters, checkpoints and signals, every
// hostile-input outcome, the snapshot's schema (schema_version 1) and the
// distributed mode (produce, worker, report). Exit status: 0 on success
// (also with invalid lines), 2 for bad flags or an unreadable input or
// catalog, 1 for a failure during the run, 128+n when signal n stopped it.
package main
