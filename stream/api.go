package stream

import (
	"context"
	"sync"
	"time"
)

// Emitter receives records pushed downstream. An Emitter belongs to one
// operator instance and is not safe for concurrent use.
//
// Emit returns an error when the record could not be delivered downstream:
// a downstream operator or sink failed, or the run was cancelled. The caller
// must stop and return that error.
type Emitter[T any] interface {
	Emit(r Record[T]) error
}

// EmitBatch emits the records of rs in order through out, as out.Emit of
// each would, stopping at the first error. Where out is the runtime's
// emitter of an operator (the one passed to [Operator.ProcessRecord] and
// [BatchProcessor.ProcessBatch]) and the chain behind it takes batches, it
// hands the chain the whole run in one call. rs is lent for the call: its
// elements may be overwritten, and the caller may reuse the slice once
// EmitBatch returns.
func EmitBatch[T any](out Emitter[T], rs []Record[T]) error {
	if e, ok := out.(*countingEmitter[T]); ok {
		return e.emitBatch(rs)
	}
	for i := range rs {
		if err := out.Emit(rs[i]); err != nil {
			return err
		}
	}
	return nil
}

// Source produces the records of a stream.
//
// Run emits records to out until the source is exhausted (it returns nil: the
// runtime then sends the end-of-input watermark, +infinity, downstream), ctx is
// done (it returns ctx.Err()), or it fails. Run is called once per run, from
// one goroutine; a Source used in two pipelines, or twice in one, is an error
// reported by Run. When any call on out returns an error, Run must return it.
//
// A source that may wait for input (a channel, a socket, a broker) waits
// inside [SourceOutput.Await], which hands buffered records on first and lets
// checkpoint barriers pass while the source waits.
//
// A source may return [ErrStopped] to stop the pipeline gracefully at its
// current position (see [Pipeline.Stop]); a source whose Run context is
// cancelled by such a stop may return ctx.Err() as usual.
type Source[T any] interface {
	Run(ctx context.Context, out SourceOutput[T]) error
}

// SourceOutput is what a Source emits into. It is not safe for concurrent
// use: a Source emits from the goroutine that called Run.
type SourceOutput[T any] interface {
	Emitter[T]
	// EmitWatermark declares that no more records with Time <= w will follow.
	// Watermarks lower than one already emitted are ignored.
	EmitWatermark(w Time) error
	// MarkIdle declares that the source has no records for now, so it stops
	// holding back the minimum watermark downstream. Emitting a record or a
	// watermark makes it active again.
	MarkIdle() error
	// Flush hands records buffered for downstream exchanges on now. A
	// pending checkpoint barrier enters here too.
	Flush() error
	// Await flushes, then calls wait, which blocks until the source has
	// input again (or its context is done), and returns wait's error.
	// While wait blocks, the source is parked: the runtime may pass a
	// checkpoint barrier on the source's behalf, calling the source's
	// [Snapshotter.Snapshot] from another goroutine. wait must therefore not
	// call out, and must not change anything Snapshot reads; Await returns
	// only once such a snapshot is done. Sources wait in Await wherever they
	// may block for long (a poll, a read from a pipe, a channel receive), so
	// checkpoints keep completing on schedule while the input is quiet.
	Await(wait func() error) error
}

// SourceFunc adapts a function to a Source.
type SourceFunc[T any] func(ctx context.Context, out SourceOutput[T]) error

// Run calls f(ctx, out).
func (f SourceFunc[T]) Run(ctx context.Context, out SourceOutput[T]) error { return f(ctx, out) }

// Operator is a one-input operator with its own per-instance state. A new
// Operator is made for every parallel instance (see [Apply]), and each is
// driven by one goroutine, so it needs no locking.
//
// ProcessRecord handles one record and may emit any number of records.
// ProcessWatermark is called when the input watermark advances to w, before w
// is forwarded downstream: results that w completes must be emitted then. The
// last watermark of a finished input is [MaxTime].
//
// An error returned by either method fails the run; it is reported wrapped
// with the operator's name. Records that are bad rather than fatal belong on
// a side output (see [OutputTag]) with the reason.
type Operator[In, Out any] interface {
	ProcessRecord(r Record[In], out Emitter[Out]) error
	ProcessWatermark(w Time, out Emitter[Out]) error
}

// Opener is implemented by sources, operators and sinks that need their
// Context (or resources) before the first record. Open is called once per
// instance on the instance's goroutine, after Restore.
type Opener interface {
	Open(ctx *Context) error
}

// Closer is implemented by sources, operators and sinks that release
// resources at the end of a run. Close is called once per instance, on
// success, error and cancellation alike, after every goroutine of the run has
// exited and the final checkpoint (if any) is committed: a source or sink may
// need its client until then.
type Closer interface {
	Close() error
}

// TimerHandler is implemented by Operators that use processing-time timers
// registered with [Context.RegisterTimer]. OnTimer is called on the
// operator's goroutine when the injected clock reaches a registered time.
//
// Processing-time timers are served by tasks fed by an exchange (KeyBy,
// Rebalance, Union), where the task waits on its input; an operator chained
// directly behind a source has its timers checked whenever the source emits.
type TimerHandler[Out any] interface {
	OnTimer(now time.Time, out Emitter[Out]) error
}

// Drainer is implemented by Operators that buffer records (a batched
// lookup, say). Drain is called when the operator's input has run dry for the
// moment (before its task waits for more), before a checkpoint barrier passes
// it, and before idleness is forwarded: it should emit what it holds, so
// nothing waits behind a quiet input and buffers need not be checkpointed.
type Drainer[Out any] interface {
	Drain(out Emitter[Out]) error
}

// BatchProcessor is implemented by Operators that take a run of records in
// one call. ProcessBatch(rs, out) must do what ProcessRecord does for each
// record of rs in turn, stopping at the first error. rs is lent for the
// call: the operator may overwrite its elements but must not keep the
// slice. Watermarks, timers and checkpoint barriers arrive between calls,
// never inside one.
//
// Implementing it also tells the runtime that the operator does not need
// each record right after the functions in front of it ran for that record
// (it does not read the clock for each record, or the side effects of those
// functions): the [Map], [Filter] and [FlatMap] functions in front of it may
// then run a whole batch before it sees the first record, as they do in
// front of a sink, one loop per batch. Without it a user operator gets
// every record one at a time, as soon as the functions before it ran for it.
type BatchProcessor[In, Out any] interface {
	ProcessBatch(rs []Record[In], out Emitter[Out]) error
}

// Sink consumes the records of a stream at the end of a pipeline. A sink runs
// as a single instance: if its input is parallel, the runtime merges the
// parallel instances into it through an exchange. Write is called from one
// goroutine at a time.
//
// An error from Write fails the run, wrapped with the sink's name: a sink
// never drops a record it could not write.
type Sink[T any] interface {
	Write(ctx context.Context, r Record[T]) error
}

// WatermarkSink is implemented by sinks that want to see the watermark.
type WatermarkSink interface {
	WriteWatermark(ctx context.Context, w Time) error
}

// Syncer is implemented by sinks that buffer. Sync makes every record
// written so far durable (written out, acknowledged, fsynced). It is called
// before the sink acknowledges each checkpoint barrier (unless the sink is a
// [Committer], which pre-commits instead) and once at the end of the input,
// after [Finisher.Finish].
type Syncer interface {
	Sync(ctx context.Context) error
}

// Finisher is implemented by sinks that want to know that their input has
// ended: Finish is called once, after the last record and the final
// watermark, on the successful path only (also when the pipeline stops with
// a savepoint; see [Pipeline.Stop]). It is not called at checkpoints.
type Finisher interface {
	Finish(ctx context.Context) error
}

// Committer is implemented by sinks that give exactly-once output by two-phase
// commit (see the package documentation, "Exactly-once output").
//
// PreCommit is called when the barrier of checkpoint id reaches the sink,
// after the last record before it: the sink makes every record written since
// the previous pre-commit durable but not yet visible (flushes and keeps open
// a Kafka transaction, syncs a file without publishing its new length), and
// the records after the barrier go to a new transaction. The sink's
// [Snapshotter.Snapshot], called right after, must name what is
// pre-committed, so a restored run can commit it. At the end of the input
// PreCommit is called for the final checkpoint (see [WithCheckpoints]);
// without checkpoints it is called with id 0 at the end of the input and
// followed at once by Commit(ctx, 0).
//
// Commit makes visible what PreCommit(id) and any earlier pre-commit not yet
// committed hold. The runtime calls it after checkpoint id is stored (from
// the coordinator's goroutine, concurrently with Write), and in a restored
// run once more, after Restore and Open and before the first record, with
// the restored checkpoint's id: Commit must be idempotent. Restore itself
// discards whatever a crashed run wrote after that checkpoint (the rest).
//
// Abort is called when the run fails or is cancelled, before Close: the sink
// discards what it wrote after its last pre-commit. Pre-committed work is left
// for the next run, which commits it if its checkpoint was stored.
type Committer interface {
	PreCommit(ctx context.Context, id int64) error
	Commit(ctx context.Context, id int64) error
	Abort(ctx context.Context) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc[T any] func(ctx context.Context, r Record[T]) error

// Write calls f(ctx, r).
func (f SinkFunc[T]) Write(ctx context.Context, r Record[T]) error { return f(ctx, r) }

// Snapshotter is implemented by stateful operators, sources and sinks whose
// state can be checkpointed (see [WithCheckpoints]). Snapshot returns the
// state as bytes; Restore replaces the state with one produced by Snapshot,
// before the instance's first record. Both are called on the instance's own
// goroutine, except for a source parked in [SourceOutput.Await].
//
// A source is snapshotted inside its calls to SourceOutput.Emit, Flush and
// Await, after the record being emitted: its position must count a record as
// consumed before the record is passed to Emit. Every instance is also
// snapshotted at its end of input, for the final checkpoint (a source after
// its Run has returned).
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore(state []byte) error
}

// Clock is the source of processing (wall-clock) time. The runtime and
// operators read wall-clock time only through a Clock, so tests can use a
// fake one (see package streamtest). Implementations must be safe for
// concurrent use.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned stop function is called first. stop reports whether it stopped
	// the call.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

var _ AbsoluteClock = SystemClock{}

// AfterFuncAt calls f in its own goroutine once the wall clock reaches at.
func (SystemClock) AfterFuncAt(at time.Time, f func()) func() bool {
	return time.AfterFunc(time.Until(at), f).Stop
}

// AbsoluteClock is a [Clock] that can register a callback for an absolute
// time in one step. A delay computed from Now and then passed to AfterFunc is
// late by however far the clock moved between the two calls — with a fake
// clock advanced by another goroutine, by the whole advance. [SystemClock]
// and streamtest's fake clock implement it; [AfterFuncAt] uses it when a
// clock has it.
type AbsoluteClock interface {
	Clock
	// AfterFuncAt calls f in its own goroutine once the clock reaches at
	// (at once if it has already), unless the returned stop function is
	// called first. stop reports whether it stopped the call.
	AfterFuncAt(at time.Time, f func()) (stop func() bool)
}

// AfterFuncAt calls f once c reaches at, unless the returned stop function is
// called first; stop reports whether it stopped the call. Code that has a
// deadline should register it with AfterFuncAt rather than computing
// at.Sub(c.Now()) for AfterFunc: the clock may move in between.
//
// With an [AbsoluteClock] the registration is one step. For another clock,
// AfterFuncAt registers the delay from a reading of Now and reads Now again:
// if the clock reached at meanwhile, f runs at once; if it moved but not that
// far, the remaining delay is registered again (a few times at most), and f
// runs once, at the earliest of these registrations.
func AfterFuncAt(c Clock, at time.Time, f func()) (stop func() bool) {
	if ac, ok := c.(AbsoluteClock); ok {
		return ac.AfterFuncAt(at, f)
	}
	var once sync.Once
	run := func() { once.Do(f) }
	var stops []func() bool
	stopAll := func() bool {
		stopped := false
		for _, s := range stops {
			if s() {
				stopped = true
			}
		}
		return stopped
	}
	before := c.Now()
	for range 4 {
		stops = append(stops, c.AfterFunc(at.Sub(before), run))
		after := c.Now()
		if !after.Before(at) {
			if stopAll() {
				go run()
			}
			break
		}
		if after.Equal(before) {
			break
		}
		before = after
	}
	// stop prevents f if f has not started: it takes the once.
	return func() bool {
		stopAll()
		ran := true
		once.Do(func() { ran = false })
		return !ran
	}
}
