// Package benchmarks compares brook with other Go stream-processing
// libraries on the same workloads, side by side in one `go test -bench` run.
//
// It is a module of its own (with a replace directive pointing at the
// repository root), so the rival libraries never enter brook's module
// graph: a user who imports brook compiles none of them, and `go test ./...`
// at the repository root does not descend into this directory.
//
// Workloads, each with a hand-written loop as the baseline:
//
//   - W1: 1,000,000 int64 values, map (x*2) → filter (x%3 != 0) → sum.
//   - W2: 1,000,000 events of 1,000 keys over 100 minutes of event time,
//     slightly out of order; count per key per 1-minute tumbling window in
//     event time, results emitted as the watermark passes each window.
//   - W3: the same kind of events over 1,000 s; count per key per sliding
//     window of 10 s every 2 s in event time.
//
// Every implementation's answer is compared with the hand-written one inside
// the benchmark. The libraries without an event-time window (RxGo, samber/ro)
// count windows by hand inside their own fold operator, which is correct but
// keeps every window until the input ends; go-streams' event-time window
// emits on processing-time ticks, so its answer is reported as the share of
// events that reached their right window (metric "correct-%") rather than
// failing the run. Run from this directory:
//
//	go test -run '^$' -bench . -benchtime 3x
package benchmarks
