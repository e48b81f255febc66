// Package stream is brook's core: typed streams of timestamped records, in-band
// watermarks, and a runtime that executes a dataflow of operators inside your
// program.
//
// A pipeline is described first and run second. [New] returns an empty
// [Pipeline]; [From] adds a [Source]; [Map], [Filter], [FlatMap], [Process]
// and [Apply] add operators; [KeyBy], [Rebalance], [Union] and [Connect]
// repartition; [To] adds a [Sink]. Nothing starts until [Pipeline.Run].
//
//	p := stream.New()
//	nums := stream.From(p, stream.Slice([]int{1, 2, 3, 4}))
//	odd := stream.Filter(nums, func(n int) bool { return n%2 == 1 })
//	stream.To(stream.Map(odd, func(n int) int { return n * 10 }), sink)
//	err := p.Run(ctx)
//
// # Execution
//
// Consecutive one-to-one operators are chained: they run in one goroutine and
// pass records by direct calls. Inside a chain, [Map], [Filter] and
// [FlatMap] run a batch of records at a time (one loop per function and
// batch; a Map followed by a Filter is one loop) when nothing but such
// functions, exchanges and sinks follow them up to the next exchange; in front
// of an operator built with [Apply] or [Process] (windows and joins
// included) they go record by record, so such an operator sees each record
// right after the functions before it ran for that record, exactly as if
// every record went down the chain alone. The functions of Map, Filter and
// FlatMap should therefore not depend on when a sink or an exchange gets
// the records they produce. Watermarks, barriers and the order of records
// are the same either way. Goroutines and channels appear only at
// exchanges (KeyBy, Rebalance, Union, Connect, and a parallel stream feeding a
// sink). An exchange carries batches of records with the control messages
// between them (watermarks, idle marks, end of input) over bounded channels,
// so a slow consumer slows its producers and memory stays flat. Batch size and
// channel capacity are set per pipeline ([WithBatchSize],
// [WithChannelCapacity]) or per exchange ([BatchSize], [ChannelCapacity]).
// A source that waits for input calls [SourceOutput.Flush] first, and an
// exchange-fed task flushes whenever its input runs dry, so records never wait
// in a half-full batch while the pipeline is quiet.
//
// # Event time and watermarks
//
// Every [Record] carries its event [Time] beside the value. A watermark W
// travels in order with the records and says that no record with time <= W
// follows. Sources generate watermarks ([WithWatermarks],
// [BoundedOutOfOrderness]: W = maxSeen - bound - 1, advanced after every
// record), operators see them in [Operator.ProcessWatermark] before they are
// forwarded, and an exchange forwards the minimum over its inputs, leaving out
// inputs that are idle ([SourceOutput.MarkIdle], [WithIdleTimeout]) until they
// produce again. Watermarks never go back. When a bounded source ends it sends
// [MaxTime], so every window downstream fires.
//
// # Lifecycle and errors
//
// Run starts every goroutine under one errgroup. The first error cancels the
// rest, and Run returns only after every goroutine has exited, on success,
// error and cancellation alike. Errors are [*OperatorError] values naming the
// operator; a panic in user code is recovered into a [*PanicError]. Mistakes
// in building the pipeline (nil functions, parallelism below one, a source or
// sink used twice) are returned by Run, wrapped around [ErrInvalid], before
// anything starts. A record that cannot be processed is never dropped
// silently: [Process] sends records rejected with [Reject] to its dead-letter
// stream, and fails the run if nobody consumes that stream.
//
// # Asynchronous I/O
//
// [Async] calls a function that waits — a remote lookup, an RPC — for every
// record with a bounded number of requests in flight per instance
// ([MaxInFlight]), so latency is overlapped instead of blocking the
// instance. Results come out in input order or, with [Unordered], as they
// complete, but never across a watermark: in ordered mode a watermark waits
// behind the pending requests before it. Requests may time out
// ([RequestTimeout], on the pipeline's clock) and be retried with backoff
// ([RetryRequests]); a request that still fails fails the run, or becomes a
// dead letter ([DeadLetterFailed]). Outstanding requests are part of a
// checkpoint and are issued again on restore.
//
// # Checkpoints
//
// With [WithCheckpoints] the pipeline takes consistent snapshots by the
// asynchronous barrier scheme: a barrier enters at every source (inside its
// next Emit or Flush), operators implementing [Snapshotter] save their state
// as it passes, exchanges align it over their inputs, and the checkpoint is
// complete when every sink has it; it is then written to a
// [CheckpointStore] ([DirStore]: write, fsync, rename; torn files are
// skipped) and [CheckpointListener]s are told (a Kafka source commits its
// offsets then). Run restores the latest complete checkpoint before the first
// record, and sources seek back, so state is exactly-once after a crash;
// output is exactly-once with idempotent or transactional sinks.
//
// # Concurrency
//
// Each operator instance is driven by one goroutine, so operators hold their
// state without locks. KeyBy runs N instances of everything after it up to
// the next exchange; all records of a key go to the same instance, in the
// order they were emitted upstream.
//
// Processing time is read only through the injected [Clock] ([WithClock]);
// package streamtest has a fake one.
package stream
