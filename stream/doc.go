// Package stream is brook's core: typed streams of timestamped records, in-band
// watermarks, and a runtime that executes a dataflow of operators inside your
// program.
//
// A pipeline is described first and run second. [New] returns an empty
// [Pipeline]; [From] adds a [Source]; [Map], [Filter], [FlatMap], [Process],
// [KeyedProcess] and [Apply] add operators; [KeyBy], [Rebalance], [Union]
// and [Connect] repartition, [ProcessBroadcast] sends a stream to every
// instance; [To] adds a [Sink]. Nothing starts until [Pipeline.Run].
//
//	p := stream.New()
//	nums := stream.From(p, stream.Slice([]int{1, 2, 3, 4}))
//	odd := stream.Filter(nums, func(n int) bool { return n%2 == 1 })
//	stream.To(stream.Map(odd, func(n int) int { return n * 10 }), sink)
//	err := p.Run(ctx)
//
// # Names
//
// Every operator has a name, unique in its pipeline, that appears in errors
// and metrics labels and keys its state in checkpoints. [Name] sets it, and
// every operator constructor in brook accepts it, here and in packages
// window and enrich:
//
//	plays := stream.From(p, src, stream.Name("plays"))
//	counts := window.Aggregate(stream.KeyBy(plays, Play.Track), window.Tumbling(time.Minute),
//		window.Count[Play](), stream.Name("plays-per-minute"))
//
// An unnamed operator's default name is its input's name and its kind
// ("plays.keyby"): name the operators whose state must survive changes to the
// pipeline (see [Name]).
//
// # Execution
//
// Consecutive one-to-one operators are chained: they run in one goroutine and
// pass records by direct calls. Inside a chain, [Map], [Filter] and
// [FlatMap] run a batch of records at a time (one loop per function and
// batch; a Map and a Filter next to each other, in either order, are one
// loop, with a [SinkFunc] right after them too) when nothing but such
// functions, exchanges and sinks follow them up to the next exchange; in front
// of an operator built with [Apply] or [Process] (windows and joins
// included) they go record by record, so such an operator sees each record
// right after the functions before it ran for that record, exactly as if
// every record went down the chain alone. An operator that implements
// [BatchProcessor] says it needs no such thing: it gets a run of records
// in one call, the functions in front of it run a batch ahead as in front of
// a sink, and it may hand its output on in one call too ([EmitBatch]); a
// lookup of package enrich is one. The functions of Map, Filter and
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
// Where one call per record through a function value is the cost, the
// batch forms take the loop into the user's function, where the compiler
// inlines the work of each record: [MapBatch] (any number of outputs per
// input), [FilterBatch] (compacts a batch in place), a sink that
// implements [BatchWriter] ([SinkBatch]) and a generator source that fills
// the source's buffer in place ([GenerateBatch], whole batches in front of
// a user operator too). The batches of MapBatch and FilterBatch follow the
// same rule: whole batches up to the next exchange or user operator,
// batches of one record in front of a user operator.
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
// [MaxTime], so every window downstream fires. Two watermarks with no record
// between them may reach an operator as the later one alone: an exchange
// tells each instance only the watermark in force before its next record,
// and an operator whose watermark work is nothing below a known time (a
// [KeyedProcess] below its earliest event timer) passes such watermarks on
// before its next output and at the end of each batch. A record is never
// moved across a watermark.
//
// # Lifecycle and errors
//
// Run starts every goroutine under one errgroup. The first error cancels the
// rest, and Run returns only after every goroutine has exited, on success,
// error and cancellation alike. Errors are [*OperatorError] values naming the
// operator; a panic in user code is recovered into a [*PanicError], inside
// an OperatorError naming the source, operator or sink whose code panicked
// (also when it panics after a call into its output has returned). Mistakes
// in building the pipeline (nil functions, parallelism below one, a source or
// sink used twice) are returned by Run, wrapped around [ErrInvalid], before
// anything starts. A record that cannot be processed is never dropped
// silently: [Process] sends records rejected with [Reject] to its dead-letter
// stream, and fails the run if nobody consumes that stream.
//
// One policy holds for every output of records an operator could not use —
// the dead letters of [Process], [Async], [ProcessBroadcast] and enrich's
// lookups, and the late records of package window's operators and
// package enrich's joins: the records go to the side output if something
// consumes it; if nothing does, the first such record fails the run with
// [ErrNotConnected], naming the operator, unless the pipeline said to drop
// them (window.DiscardLate, enrich.DiscardLate, enrich.DropMissing), in
// which case they are counted in the metrics hook (Late, Errors) and
// dropped. To drop the records of an output that has no such option,
// consume it with [Discard].
//
// # Keyed state and timers
//
// [KeyedProcess] is the operator for custom per-key logic on a
// [KeyedStream] (Flink's KeyedProcessFunction). Its setup function declares
// typed per-key states ([NewValueState], [NewMapState], [NewListState]);
// its Process callback gets each record with its key as the current key,
// and the states read and write that key's state only. The [KeyedContext]
// registers and deletes the key's timers: event-time timers fire when the
// watermark reaches them, in time order and before that watermark goes
// downstream; processing-time timers fire on the injected clock; a key has
// at most one timer per time. OnTimer gets the key and the timer and may
// use the key's state and emit. States and timers are kept and checkpointed
// per key group, so a checkpoint restores at any parallelism up to the
// maximum ([WithMaxParallelism]). A state may have a time to live
// ([StateTTL]): in event time (the default, deterministic across reruns and
// restores) or on the clock, refreshed by writes or also by reads; expired
// values are never returned and are deleted as the watermark (or clock)
// passes them, without scanning the keys. The states live in memory by
// default; [StoredIn] puts them in a [StateStore] of bytes per instance (a
// disk or remote store), for a pipeline ([WithStateBackend]) or one
// operator ([StateIn]); checkpoints have the same format either way.
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
// # Broadcast state
//
// [ProcessBroadcast] and [ProcessKeyedBroadcast] connect a stream with a
// broadcast stream — rules, catalog updates, configuration, from Kafka or a
// file — as Flink's broadcast state pattern does: every instance receives
// every broadcast record, in the same order (a parallel broadcast stream is
// merged into one first), and applies it to its [BroadcastState], a typed
// map; the records of the main stream, forwarded or partitioned by key,
// read that state through a [BroadcastView]. Broadcast records are applied
// on arrival, not in event time: which main records see a rule depends on
// how the inputs interleave, and the operator's watermark is the minimum of
// both inputs', so a quiet broadcast input should be marked idle. At a
// checkpoint every instance has applied the same broadcast records (those
// before the barrier); the state is saved and restored into every instance,
// at any parallelism.
//
// # Checkpoints
//
// With [WithCheckpoints] the pipeline takes consistent snapshots by the
// asynchronous barrier scheme: on schedule a barrier enters at every source
// (inside its next Emit or Flush, or at once while it waits for input in
// [SourceOutput.Await]), operators implementing [Snapshotter] save their
// state as it passes, exchanges align it over their inputs, and the
// checkpoint is complete when every sink has it; it is then written to a
// [CheckpointStore] ([DirStore]: write, fsync, rename; torn files are
// skipped) and [CheckpointListener]s and [Committer] sinks are told (a Kafka
// source commits its offsets then, a transactional sink commits). Run
// restores the latest complete checkpoint before the first record, and
// sources seek back, so state is exactly-once after a crash. The end of the
// input is the final checkpoint, so a rerun after the end repeats nothing.
// A [CheckpointMetrics] hook sees every checkpoint's duration and size
// (package stream/prom exports them), and the logger of [WithLogger] the
// run's lifecycle: start, restore, each checkpoint, the end.
//
// Source authors: emit from Run's goroutine; count a record as consumed (in
// what Snapshot returns) before passing it to Emit; and wait for input only
// inside [SourceOutput.Await], whose wait function must leave alone what
// Snapshot reads. Then barriers pass within about one checkpoint interval
// however quiet the input is.
//
// # Stopping
//
// [Pipeline.Stop] is stop-with-savepoint: the sources end where they are
// without the end-of-input watermark, so no window fires early, the final
// checkpoint is stored, and a later Run resumes as if the pipeline had never
// stopped. [Pipeline.Drain] ends the input instead: every window fires, then
// the final checkpoint is stored. A source can ask for a stop by returning
// [ErrStopped]. Cancelling Run's context stops at once, and the next run
// resumes from the last periodic checkpoint.
//
// # Exactly-once output
//
// Exactly-once output is two-phase commit: a [Committer] sink pre-commits
// when the barrier reaches it (its checkpointed state names the pending
// transaction or file range), commits once the checkpoint is stored, on
// restore commits what the stored checkpoint pre-committed and drops the
// rest, and aborts its open transaction when the run fails. A sink that only
// syncs ([Syncer]) at barriers is at-least-once: after a crash, what it wrote
// since the restored checkpoint is written again. The built-in sinks:
//
//	sink                          guarantee with checkpoints
//	CollectSink, ChanSink         at-least-once (in memory; a restarted process starts empty)
//	Discard, SinkFunc, SinkBatch  whatever the function does (at-least-once calls)
//	jsonl.Writer (a file)         exactly-once: the file is cut back to the checkpointed length on restore
//	jsonl.Writer (an io.Writer)   at-least-once: a stream cannot be cut back
//	kafka.Sink                    at-least-once: acks awaited at every barrier
//	kafka.TransactionalSink       exactly-once for read_committed consumers: a transaction per checkpoint, committed after the store
//
// # Capabilities
//
// Sources, operators and sinks are plain interfaces; the runtime discovers
// what else they can do from these optional interfaces, and honours each
// only where the table says:
//
//	interface            source  operator  sink   called
//	Opener               yes     yes       yes    once before the first record, after Restore
//	Closer               yes     yes       yes    once after the run (and its final checkpoint)
//	Snapshotter          yes     yes       yes    at every barrier and at the end; Restore before Open
//	CheckpointListener   yes     yes       yes    after each checkpoint is stored
//	TimerHandler         -       yes       -      when a processing-time timer is due
//	Drainer              -       yes       -      when the input runs dry, before barriers and idleness, at the end
//	WatermarkDue         -       yes       -      read at every watermark: ProcessWatermark is skipped below its due time
//	WatermarkSink        -       -         yes    when the sink's input watermark advances
//	BatchProcessor       -       yes       -      ProcessBatch instead of ProcessRecord, once per run of records
//	BatchWriter          -       -         yes    WriteBatch instead of Write, once per batch of records
//	Syncer               -       -         yes    at every barrier (unless Committer) and at the end
//	Finisher             -       -         yes    once at the end of the input
//	Committer            -       -         yes    PreCommit at barriers and the end, Commit after the store, Abort on failure
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
