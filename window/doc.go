// Package window groups a keyed stream into event-time windows — tumbling,
// sliding, session and global — and aggregates each window incrementally,
// with Flink's semantics: watermarks decide when a window is complete,
// allowed lateness keeps it open for stragglers, and records that come too
// late are reported, never silently dropped or counted into the wrong window.
//
//	counts := window.Aggregate(
//		stream.KeyBy(plays, Play.TrackID),
//		window.Tumbling(time.Minute),
//		window.Count[Play](),
//		window.AllowedLateness(30*time.Second))
//	stream.To(counts.Results(), leaderboard)
//	stream.To(counts.Late(), lateLog)
//
// # Semantics
//
// Times are the pipeline's event times (nanoseconds). W is the operator's
// input watermark, L the allowed lateness (0 unless [AllowedLateness] says
// otherwise: there is no hidden default).
//
//   - Windows are half-open, [Start, End).
//   - [Tumbling] size S, offset O (|O| < S): a record at t is in the window
//     starting at floor((t-O)/S)*S + O — a true floor, so t = -1 lands in
//     [-S, 0).
//   - [Sliding] size S, slide P (0 < P <= S): a record is in every window
//     starting at k*P + O with start <= t < start + S.
//   - [Session] gap G: a record opens [t, t+G); the windows of one key that
//     overlap or touch (one's End is the other's Start) merge into one
//     spanning both, and their accumulators merge.
//   - [Global]: one window per key, [MinTime, MaxTime), fired at the end of
//     input and by its triggers.
//   - A window fires — emits a [Result] marked [OnTime] — when W >= End-1.
//     Results travel at time End-1 and are emitted before the watermark that
//     fired them is forwarded, so downstream sees every result of a window
//     before the watermark that completes it.
//   - A window closes when W >= End-1+L, and its state is dropped: memory is
//     bounded by the open windows times their keys, whatever the stream's
//     length.
//   - A record whose windows are all closed is late: it goes to the late
//     output ([Windowed.Late]) with the windows it missed, and the operator's
//     Late count in the metrics hook grows; it never enters a window. If
//     nothing consumes the late output, a late record fails the run with
//     [stream.ErrNotConnected], as an unconsumed dead letter does, unless
//     the operator has [DiscardLate] (then it is counted and dropped). For
//     sessions the record's window is [t, t+G) after merging: a record whose
//     own window closed still joins an open session it overlaps or touches.
//   - With L > 0, a record for a window that has fired but not closed is
//     added and the window fires again at once, marked [Late], with the
//     updated result (for sessions, possibly with a wider span).
//   - The end of input is W = MaxTime: every window fires and closes.
//   - With [FireOnClose] a window fires once per key, marked [OnTime], when
//     it closes (W >= End-1+L), with every record it accepted, the late ones
//     within the lateness included; it emits nothing at End-1 and no late
//     firings, and its result travels at End-1+L. Records beyond the
//     lateness are late as above. A session fires when the session it has
//     merged into closes; a global window closes at the end of input only.
//
// # Aggregation
//
// An [Aggregator] (new accumulator, add, merge, result) folds a window's
// records into one accumulator per key, so a window never holds its raw
// records. [Count], [Sum], [Min], [Max] and [Mean] are built in; [Both] and
// [Tuple3] run several in one pass. Mergeable sketches (package sketch) are
// aggregators too. [Process] is the full-buffer variant for what cannot be
// folded: it keeps the records and hands them to a function at each firing.
//
// # Triggers
//
// Besides the on-time firing, [EarlyEvery] fires a window every n records
// and [EarlyInterval] every interval of processing time, marked [Early].
// Results accumulate: every firing covers all of the window's records so far.
// [CountTrigger] is the purging kind: every n records of a key fire the
// window with those n records and start it afresh — with [Global], count
// windows. [FireOnClose] is the other way round: one final result per
// window at its close, for consumers that want each window once; it
// excludes early firings and count triggers (Run fails with [ErrInvalid]).
// Its state survives a checkpoint like any window's and fires once after a
// restore. Since that firing is each window's last, an aggregator that
// implements [FinalResulter] hands its accumulator over as the result
// instead of copying it.
//
// # Processing time
//
// [ProcessingTime] makes an assigner use the pipeline's injected clock
// ([stream.WithClock]) instead of event time: a record is placed by the
// clock when the operator receives it, and a window fires when the clock
// reaches its End (the clock's "watermark" is now-1). Nothing is late in
// processing time. Tests drive it with a fake clock and never sleep.
//
// # Parallelism and state
//
// The operator runs in the parallel instances of its [stream.KeyedStream];
// each owns the windows of its keys, and the results for one key come out in
// order. A watermark costs O(fired windows × log(open windows)): windows
// wait in a heap by due time. The operator implements [stream.Snapshotter]:
// its open windows are checkpointed in the library's state codec
// ([codec.For]): keys and accumulators of basic types (string, int, int64,
// uint64, float64, bool, []byte) and BinaryMarshalers are encoded compactly;
// any other type falls back to encoding/gob and must then be gob-encodable
// (exported fields).
// Configuration mistakes are reported by [stream.Pipeline.Run], wrapping
// [ErrInvalid].
package window
