// Package kafka connects brook pipelines to Kafka through franz-go (kgo): a
// [Source] that consumes partitions in a consumer group or directly, and a
// [Sink] that produces to a topic.
//
// # Source
//
//	src := kafka.NewSource(decodePlay,
//		kafka.Brokers("localhost:9092"),
//		kafka.ConsumerGroup("juliawolf", "plays"),
//		kafka.OutOfOrderness(5*time.Second))
//	plays := kafka.Decode(stream.From(p, src))
//	stream.To(plays.DeadLetters(), deadLetterSink) // topic/partition/offset, raw record, reason
//	// plays.Stream is a stream.Stream[Play]
//
// The source emits a [Message] per record, with the decoded value or the
// decoder's error, and [Decode] splits them into values and dead letters,
// exactly as package jsonl does for lines: a bad record is data that travels
// through the dataflow to a dead-letter sink in order, counted by the
// metrics hook, and fails the run if nothing consumes it.
//
// Event time is the record's Kafka timestamp, or comes from the decoded value
// with [EventTime]. Watermarks are generated per partition, with bounded
// out-of-orderness ([OutOfOrderness]): a partition whose largest event time
// so far is m has the watermark m - d - 1ns. The source emits the minimum
// over the partitions it owns, after each poll's records, so a fast
// partition never makes a slow one's records late. A partition that has
// delivered nothing for [IdleTimeout] (by the pipeline's clock) is left out
// of the minimum until its next record; when every owned partition is idle,
// or none is owned, the source marks itself idle. A newly assigned partition
// holds the minimum back until its first record or its idle timeout; its
// records older than the watermark already emitted are late downstream.
// Do not add [stream.WithWatermarks] to a Kafka source: it would not see the
// partitions. With [CarryWatermarks] the source reads the watermarks an
// upstream job wrote instead of generating them (below).
//
// In a consumer group the source blocks rebalances while it hands a poll's
// records downstream (kgo.BlockRebalanceOnPoll), so partitions are revoked
// only between polls: in OnPartitionsRevoked it commits their positions (as
// its [CommitPolicy] allows) and forgets them, and kgo returns no more of
// their records. A partition assigned to it starts from the group's
// committed offset, unless a restored checkpoint or a [PartitionListener]
// says otherwise.
//
// # Delivery guarantee of the source: at-least-once up to the hand-off
//
// A position is committed only after every record before it has been given
// to out.Emit and out.Flush has returned: "processed" means handed to the
// pipeline, not finished by it. What that covers depends on the pipeline:
//
//   - Operators chained behind the source (Map, Filter, Process, Decode, a
//     sink directly after them) run inside out.Emit, so their work on a
//     record is done when its position is committed. With a sink whose Write
//     is durable when it returns, this is at-least-once end to end.
//   - After an exchange (KeyBy, Rebalance, a sink merging parallel
//     instances) out.Flush only means the record sits in the exchange's
//     bounded buffer. A crash after the commit loses those buffered records,
//     so such a pipeline is at-least-once only for what had left the buffers
//     when it crashed.
//   - State built from records (windows, aggregates) lives in memory until
//     checkpoints exist; it is lost in a crash whatever was committed.
//   - A buffering sink, such as this package's [Sink], makes a record
//     durable only at its Flush, at the end of the input.
//
// So without checkpoints the guarantee is at-least-once for stateless
// pipelines whose work happens in the source's chain, and at-most-once in
// the gap described above otherwise. [CommitNever] leaves committing to the
// caller.
//
// # With checkpoints: exactly-once state
//
//	p := stream.New(stream.WithCheckpoints(store, 10*time.Second))
//	src := kafka.NewSource(decodePlay, kafka.Brokers(addr),
//		kafka.ConsumerGroup("juliawolf", "plays"), kafka.Commit(kafka.CommitOnCheckpoint()))
//
// The Source is a [stream.Snapshotter]: its state in a checkpoint is the
// position (next offset, leader epoch) of every partition it handed records
// of, a record counting as consumed before it is passed to out.Emit (the
// runtime snapshots a source inside Emit and Flush). A restored run starts
// each of those partitions at its checkpointed position, whatever the group
// has committed. It is also a [stream.CheckpointListener]: with
// [CommitOnCheckpoint] it commits exactly the positions of a checkpoint
// once that checkpoint is stored, and at no other time, so the committed
// offsets always describe a stored state. The pipeline's state is then
// exactly-once across crashes; output is exactly-once with idempotent or
// transactional sinks. This holds while the source's partitions stay with
// the process (fixed [Partitions], or a group whose members do not move
// partitions between them): state built from a partition that moves to
// another process in a rebalance stays in this process's checkpoints. To
// run a stateful job as several processes, use a [Group] (below).
//
// # Scaling out: a Group, one task per partition
//
//	store := redisstore.NewTasks(redisClient, "clickcount")
//	g := kafka.NewGroup("clickcount", "clicks", decodeClick, store,
//		func(t *kafka.Task[Click]) error {
//			clicks := kafka.Decode(t.Input).Stream
//			counts := window.Aggregate(stream.KeyBy(clicks, Click.PageOf),
//				window.Tumbling(time.Minute), window.Count[Click]())
//			stream.To(stream.Map(counts.Results(), toRow), kafka.NewTransactionalSink(
//				"page-counts", encodeRow, t.TransactionalID("counts"), kafka.Brokers(addr)))
//			return nil
//		},
//		kafka.SourceOptions(kafka.Brokers(addr), kafka.InstanceID(hostname)),
//		kafka.CoPartitioned(func(c Click) []byte { return []byte(c.Page) }))
//	err := g.Run(ctx)
//
// A [Group] is Kafka Streams' task model on brook pipelines. Its process
// joins the consumer group with a membership client that fetches nothing;
// for each partition the group assigns it, it builds a [Task]: a
// [stream.Pipeline] of its own, made by the user's build function from a
// source reading that one partition, checkpointed every
// [CheckpointInterval] into the partition's place of a [TaskStore] every
// process shares (redisstore.Tasks; [DirTaskStore] on one machine). A
// checkpoint holds the task's whole state and its position in the
// partition, written in one atomic Save, so they always agree.
//
//   - Assigned: the process claims the task's checkpoints (which fences
//     every earlier owner), restores the newest one (state and position)
//     and reads the partition from there; a task with no checkpoint starts
//     at the log start.
//   - Revoked (a rebalance, or [Group.Stop]): the task stops with a
//     savepoint ([stream.Pipeline.Stop]): no window fires early, its final
//     checkpoint is stored and its transaction committed, and only then
//     does the rebalance go on, so the next owner resumes exactly there.
//   - Lost (the member's session expired) or fenced (a Save refused with
//     [stream.ErrFenced] because another process claimed the task): the
//     task is dropped without writing anything. It is not a failure of the
//     process.
//   - Crashed (SIGKILL): the next owner restores the last stored
//     checkpoint and reads again from its position; what the crashed
//     owner did after it is repeated, with a [TransactionalSink] per task
//     ([Task.TransactionalID]: the same ids wherever the task runs, so the
//     new owner fences the old producers and commits or aborts what they
//     left) the output stays exactly-once.
//
// The task store is the truth about positions. The group's committed
// offsets mirror the stored checkpoints (committed about once a second after
// each one is stored, never fatal when refused in a rebalance or timed out)
// for lag monitoring and for [ExitWhenDone], which ends the process only
// when the group's committed offsets cover the end of every partition, so
// a process does not exit as idle while a dead member's partitions wait for
// the group to notice. Static membership ([InstanceID], with a short
// kgo.SessionTimeout through [GroupClientOptions]) makes a restarted worker
// take its partitions back within its session timeout, without a
// rebalance; without it a killed member's partitions move when its session
// times out (kgo's default 45s).
//
// Event time does not depend on the deployment: each task's watermark is
// its own partition's, generated from the partition's records (bounded
// out-of-orderness, [OutOfOrderness]) or carried in them ([CarryWatermarks],
// below), so a record is late, and a window fires, by the partition's
// content alone, whichever process runs the task and whatever the other
// partitions do. The price is that the watermark of a partition that
// receives nothing stands still, so its windows wait for its next record
// (an idle timeout would make results depend on wall-clock timing;
// producers that want windows to close on quiet partitions send a record
// to each, as a carrying sink does at the end of its input).
//
// A task sees one partition, so keyed state is complete only if every
// record of a key is in one partition: the topic must be keyed by the
// pipeline's key (co-partitioned). [CoPartitioned] checks it: a record
// whose pipeline key the default partitioner sends elsewhere fails the run
// with [ErrNotCoPartitioned]. Re-keying through a repartition topic is left
// to the user (a first Group writing the topic keyed by the new key, a
// second Group reading it).
//
// Trade-offs: each task has its own fetching client and a transactional
// sink has three producers per task, so connections grow with the
// partitions a process owns (Kafka Streams shares one consumer and one
// producer per thread); a pipeline per task costs a few goroutines; a
// checkpoint rewrites the task's whole state (no incremental changelog), so
// keep it small or the interval long; output through a transactional sink
// is visible one checkpoint interval late.
//
// # Watermarks carried through Kafka
//
//	// upstream: the job that sees the input in its order
//	stream.To(plays, kafka.NewSink("plays", encode, kafka.Brokers(addr), kafka.Key(userOf),
//		kafka.CarryWatermarks()))
//	// downstream: tasks that each see one partition
//	g := kafka.NewGroup("stats", "plays", decode, store, build,
//		kafka.SourceOptions(kafka.Brokers(addr), kafka.CarryWatermarks()))
//
// Per-partition watermarks generated downstream ([OutOfOrderness]) call a
// record late by its partition's order only: a record is late when its
// partition has seen a record more than d later. Upstream, in the job that
// read the input as a whole, the same record may have been on time (the
// later record was in another partition) or late (a later record in
// another partition had moved the watermark). So the downstream answer
// depends on how the records were spread over partitions, and differs from
// the single-process answer whenever lateness matters. [CarryWatermarks]
// removes that difference: the upstream sink writes on every record the
// watermark that was in force before it in the upstream dataflow, and the
// downstream source emits it before the record, so every record is judged
// against exactly the watermark it would have met in one process, whatever
// the number of partitions, of processes owning them, and the order in
// which they read them.
//
//   - Header: [WatermarkHeader] ("brook-wm"), nanoseconds since the epoch
//     in decimal ASCII (readable with kcat -f '%h'), stream.MinTime before
//     the first watermark. The upstream's event time must travel too: the
//     record's Kafka timestamp (the sink's default, millisecond precision) or
//     a field the downstream reads with [EventTime].
//   - End of input: when the final watermark (stream.MaxTime) reaches the
//     sink, it writes a watermark-only record ([WatermarkOnlyHeader], no key,
//     no value) to every partition, so every downstream task's windows fire
//     although nothing follows. The downstream is then done with that input
//     for good: records appended to the topic later are late. One input,
//     one upstream run (or a restored one, which continues its watermark).
//   - Monotone per partition: a partition's watermark is the largest header
//     read from it; a lower one (from a second producer writing to the same
//     partition) does not move it back. Carried watermarks are meant for
//     topics with one upstream job.
//   - Records without the header (or with one that does not parse) are dead
//     letters with [ErrNoWatermark], and move no watermark: they were not
//     written by a carrying sink, so nothing says where they stand in event
//     time. Falling back to a generated watermark would silently mix two
//     rules.
//   - A source reading several partitions (a [ConsumerGroup] source, or
//     several [Partitions]) emits the minimum over the partitions it owns,
//     leaving out idle ones ([IdleTimeout]) as for generated watermarks, and
//     only when the minimum grows. That is safe (never a record late that was
//     on time upstream) but no longer exact: a record meets the minimum, not
//     its own partition's watermark, so fewer records are late than upstream
//     and which ones depends on the interleaving. Exact answers need one
//     watermark per partition: a [Group], whose tasks read one partition each.
//
// The trade-off against generated per-partition watermarks: carried ones give
// the single-process answer and need no out-of-orderness bound downstream,
// but they need the upstream to be a brook pipeline with a carrying sink (or
// a producer writing the header), they add about 20 bytes to every record, a
// partition's watermark moves only with its records (the upstream's
// watermark advances between two records of a partition do not reach it
// until the next one), and records of other producers are refused.
// Generated watermarks work on any topic, but lateness then depends on the
// partitioning.
//
// # State kept outside the pipeline, per partition
//
// A [PartitionListener] ([OnPartitions]) is told when partitions arrive
// (and chooses the offsets they start from) and when they leave (after
// their last polled record has been handed downstream, before their
// commit). That is what a per-partition state store needs, Kafka Streams
// style: load a partition's state and its offset when it arrives, resume
// from that offset, and write state and offset together, atomically, when
// it leaves and periodically. Since the offset travels with the state, a
// restart or a rebalance neither loses nor double-counts, whatever the
// group committed; commits are then only for monitoring (a [CommitPolicy]
// can return the offsets the store has written).
//
// When the run fails or is cancelled, the source commits nothing more: the
// records since the last commit are delivered again (duplicates, not loss).
// When it ends normally ([ExitWhenIdle], or [Source.Stop] for a graceful
// shutdown) it commits what it handed before returning, and the pipeline
// then finishes: the end-of-input watermark fires every window. A failed commit fails the run, except one refused because the
// group is rebalancing, whose records go again to the partitions' next
// owner. A source on fixed [Partitions] commits nothing.
//
// # Sink
//
//	stream.To(results, kafka.NewSink("results", json.Marshal,
//		kafka.Brokers("localhost:9092"),
//		kafka.Key(func(r Result) []byte { return []byte(r.User) })))
//
// The sink produces asynchronously through kgo's batching producer and
// collects the acknowledgements (promises). Its delivery guarantee is
// at-least-once: the run succeeds only if every record was acknowledged by
// the broker (with the client's acks setting: all in-sync replicas by
// default, idempotent writes, retried by the client); its Flush at the end
// of the input waits for every ack, as ProduceSync would, and a failed
// record's error fails the run, returned by the next Write, by Flush or by
// Close, never logged and dropped. A retried run may write records again.
// Records carry their event time as the Kafka timestamp (millisecond
// precision) unless [ProduceTime] is set; [Key] and [Headers] set keys and
// headers from the value; [CarryWatermarks] adds the pipeline's watermark
// (see above).
package kafka
