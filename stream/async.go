package stream

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// ErrRequestTimeout is the error of an [Async] request that did not complete
// within its [RequestTimeout]. It is wrapped by the run's error (or by the
// dead letter's reason, with [DeadLetterFailed]) once no retry is left.
var ErrRequestTimeout = errors.New("stream: async request timed out")

// AsyncFunc is the request an [Async] operator makes for one record: it
// returns the result for v, or an error. It is called from the operator's
// worker goroutines, up to [MaxInFlight] calls at a time per instance, so it
// must be safe for concurrent use, and it must return once ctx is done: ctx
// is cancelled when the request times out and when the run stops.
//
// Returning [Reject](reason) sends the record to the dead-letter output
// without a retry. Any other error is a failure: it is retried as
// [RetryRequests] says, and after the last attempt it fails the run, or
// becomes a dead letter with [DeadLetterFailed].
type AsyncFunc[In, Out any] func(ctx context.Context, v In) (Out, error)

// AsyncOption configures [Async]: [Name] and the options below (see
// [OperatorConfig] for how option types relate).
type AsyncOption func(*OperatorConfig)

type asyncConfig struct {
	capacity   int
	unordered  bool
	timeout    time.Duration
	retry      *Retry
	deadLetter bool
	errs       []error
}

func asyncOptionFunc(set func(*asyncConfig)) AsyncOption { return OptionFor[AsyncOption](set) }

// MaxInFlight bounds the requests an [Async] instance has in flight — being
// called or waiting for a retry — to n (default 100). It is also the number
// of worker goroutines an instance starts, at most (they are started as the
// load needs them). A completed request whose result waits to be emitted (in
// ordered mode for the requests before it, in either mode for a watermark
// before it) is no longer in flight, so a slow request does not stop the
// ones behind it from being made; such waiting results are bounded by n
// too, so an instance holds at most 2n records. When either bound is
// reached, the instance stops taking input until a request completes or a
// result is emitted: backpressure, not a growing queue.
func MaxInFlight(n int) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) {
		if n < 1 {
			c.errs = append(c.errs, fmt.Errorf("%w: async max in flight %d < 1", ErrInvalid, n))
			return
		}
		c.capacity = n
	})
}

// Unordered emits each result as soon as its request completes, instead of
// in input order (the default). Results never cross a watermark: a result
// of a record that arrived before watermark W is emitted before W is
// forwarded, and one of a record that arrived after W is emitted after it,
// so a result is never late downstream unless its record was.
func Unordered() AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.unordered = true })
}

// RequestTimeout bounds every attempt of a request to d, measured on the
// pipeline's clock ([WithClock]): the attempt's context is cancelled with
// the cause [ErrRequestTimeout], and an attempt that then returns an error
// has timed out. A timed-out attempt is a failure like any other: retried
// under [RetryRequests], then failing the run or dead-lettered. Zero, the
// default, sets no timeout.
func RequestTimeout(d time.Duration) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) {
		if d < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: negative async request timeout", ErrInvalid))
			return
		}
		c.timeout = d
	})
}

// RetryRequests retries a failed or timed-out request as r says: up to
// r.Attempts tries in all, waiting r.Initial before the first retry and
// doubling the wait up to r.Max, on the pipeline's clock. Only errors for
// which r.Retryable returns true are retried (nil: every error). The
// default is a single attempt.
func RetryRequests(r Retry) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) {
		if r.Attempts < 1 || r.Initial < 0 || r.Max < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: async retry needs Attempts >= 1 and non-negative waits", ErrInvalid))
			return
		}
		c.retry = &r
	})
}

// DeadLetterFailed sends a record whose request still failed after its last
// attempt to the dead-letter output ([Processed.DeadLetters]) with the
// error as the reason, and the run goes on. By default such a failure fails
// the run.
func DeadLetterFailed() AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.deadLetter = true })
}

// Async calls fn for every record of s with up to [MaxInFlight] requests
// outstanding per instance — the shape of Flink's AsyncDataStream, for
// lookups in a remote service whose latency would otherwise block the
// instance. Each result is a record at its input record's time.
//
// Results come out in input order, or with [Unordered] as requests
// complete, but never across a watermark. In ordered mode a watermark waits
// behind the requests of the records before it, so no watermark overtakes a
// pending result; idleness is forwarded only once nothing is pending.
//
// Each instance of s gets its own async instance, fed through a forward
// exchange (instance i to instance i, order kept): the async instance runs
// in its own goroutine, emitting results as they complete, and its worker
// goroutines — at most MaxInFlight, started as needed — all return before
// Run does.
//
// With checkpoints on, the records of the outstanding requests (and the
// watermarks held behind them) are part of the checkpoint, encoded with
// encoding/gob (the record type must then be gob-encodable): a barrier does
// not wait for them, and a restored run issues them again. Requests may
// therefore be made more than once for a record; fn should be idempotent.
// A barrier does wait behind the input the instance has not taken yet: when
// the instance is full (see [MaxInFlight]), it waits until a request
// completes — with requests that hang, until their [RequestTimeout]. Give
// requests to a remote service a timeout, so a hung service delays
// checkpoints by at most that long.
//
// Records rejected by fn (and, with [DeadLetterFailed], records whose
// requests failed) go to the returned dead-letter stream; if nothing
// consumes it, they fail the run.
func Async[In, Out any](s Stream[In], fn AsyncFunc[In, Out], opts ...AsyncOption) Processed[In, Out] {
	in := s.must()
	cfg := asyncConfig{capacity: 100}
	p := in.p
	name := p.opName(in.name, Configure("async", &cfg, opts))
	for _, err := range cfg.errs {
		p.fail(fmt.Errorf("%s: %w", name, err))
	}
	if fn == nil {
		p.failf("%s: nil async function", name)
	}
	dead := NewOutputTag[DeadLetter[In]]("dead-letters")
	x := newExchange[In](p, in.name, "in", in.parallelism, nil, []ExchangeOption{Name(name + ".in")})
	x.forward = true
	x.attach(s)
	o := newOutlet[Out](p, name, in.parallelism)
	o.sidesOK = true
	set := &asyncSettings[In, Out]{cfg: cfg, fn: fn}
	x.down.consume(func(b *builder, inst int) (inlet[In], error) {
		next, err := o.build(b, inst)
		if err != nil {
			return nil, err
		}
		sides, sideCtrls, err := o.buildSides(b, inst)
		if err != nil {
			return nil, err
		}
		n := &asyncNode[In, Out]{asyncSettings: set, name: name, next: next, sideCtrls: sideCtrls,
			t: b.t, id: b.t.node(name), ctx: b.rt.ctx, clock: b.t.clock, wm: MinTime}
		n.cnt = b.t.newCounts(b.rt, name, inst)
		if d, ok := sides[dead]; ok {
			n.dead = d.(inlet[DeadLetter[In]])
		}
		if co := b.rt.co; co != nil {
			n.st, n.co = b.registerState(name, n.id, inst, in.parallelism, n, nil, &n.wm), co
		}
		b.t.addOpener(n.id, name, n.open)
		b.t.addCloser(name, n.close)
		b.t.polls = append(b.t.polls, n.wake)
		return n, nil
	})
	return Processed[In, Out]{Stream: Stream[Out]{o: o}, dead: dead}
}

type asyncSettings[In, Out any] struct {
	cfg asyncConfig
	fn  AsyncFunc[In, Out]
}

// asyncSlot is one outstanding request. The worker owns out, err, reason
// and retries until it hands the slot back on done.
type asyncSlot[In, Out any] struct {
	rec     Record[In]
	seg     int64 // watermarks queued before it
	out     Out
	err     error // the run fails with it
	reason  error // the record is a dead letter
	retries int64
	done    bool // handed back (operator's view)
	emitted bool
}

// asyncItem is an entry of the instance's queue: a request, or a watermark
// held behind the requests before it.
type asyncItem[In, Out any] struct {
	s  *asyncSlot[In, Out]
	wm Time
}

type asyncNode[In, Out any] struct {
	*asyncSettings[In, Out]
	name      string
	next      inlet[Out]
	sideCtrls []func(control) error
	dead      inlet[DeadLetter[In]] // nil: not consumed
	cnt       *counts
	t         *task
	id        int
	ctx       context.Context // the run's
	clock     Clock
	st        *stateful
	co        *coordinator

	wm        Time // input watermark
	q         []asyncItem[In, Out]
	head      int
	unemitted int   // requests in q not emitted yet
	seg       int64 // watermarks queued so far
	headSeg   int64 // watermarks forwarded so far
	idleHeld  bool  // the input went idle while requests were pending
	free      []*asyncSlot[In, Out]
	restored  []asyncItem[In, Out]

	// workers
	reqs     chan *asyncSlot[In, Out]
	done     chan *asyncSlot[In, Out]
	inflight int // handed to workers, not back yet
	workers  int
	wg       sync.WaitGroup
	wctx     context.Context
	wcancel  context.CancelFunc
}

func (n *asyncNode[In, Out]) open() error {
	if n.fn == nil {
		return fmt.Errorf("%w: nil async function", ErrInvalid)
	}
	size := max(n.cfg.capacity, len(n.restored))
	n.reqs = make(chan *asyncSlot[In, Out], size)
	n.done = make(chan *asyncSlot[In, Out], size)
	n.wctx, n.wcancel = context.WithCancel(n.ctx)
	restored := n.restored
	n.restored = nil
	for _, it := range restored {
		if it.s == nil {
			n.q = append(n.q, it)
			n.seg++
			continue
		}
		it.s.seg = n.seg
		n.q = append(n.q, it)
		n.unemitted++
		n.submit(it.s)
	}
	return nil
}

// close stops the workers and waits for them: when the task returns, every
// goroutine of the instance has.
func (n *asyncNode[In, Out]) close() error {
	if n.wcancel != nil {
		n.wcancel()
		n.wg.Wait()
	}
	return nil
}

func (n *asyncNode[In, Out]) submit(s *asyncSlot[In, Out]) {
	n.inflight++
	if n.inflight > n.workers && n.workers < n.cfg.capacity {
		n.workers++
		n.wg.Add(1)
		go n.work()
	}
	n.reqs <- s // buffered for every outstanding request: never blocks
}

func (n *asyncNode[In, Out]) work() {
	defer n.wg.Done()
	for {
		select {
		case s := <-n.reqs:
			n.call(s)
			n.done <- s // buffered for every outstanding request
			select {
			case n.t.wake <- struct{}{}:
			default:
			}
		case <-n.wctx.Done():
			return
		}
	}
}

// call runs s's request with its retries, on a worker goroutine.
func (n *asyncNode[In, Out]) call(s *asyncSlot[In, Out]) {
	defer func() {
		if r := recover(); r != nil {
			s.err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	attempts := 1
	var wait time.Duration
	if rt := n.cfg.retry; rt != nil {
		attempts, wait = rt.Attempts, rt.Initial
	}
	for a := 1; ; a++ {
		out, err := n.attempt(s.rec.Value)
		if err == nil {
			s.out = out
			return
		}
		if n.wctx.Err() != nil {
			s.err = n.wctx.Err()
			return
		}
		if rej := (*RejectError)(nil); errors.As(err, &rej) {
			s.reason = rej.Reason
			return
		}
		if a >= attempts || (n.cfg.retry.Retryable != nil && !n.cfg.retry.Retryable(err)) {
			if a > 1 {
				err = fmt.Errorf("after %d attempts: %w", a, err)
			}
			if n.cfg.deadLetter {
				s.reason = err
			} else {
				s.err = err
			}
			return
		}
		s.retries++
		if wait > 0 {
			fired := make(chan struct{})
			stop := n.clock.AfterFunc(wait, func() { close(fired) })
			select {
			case <-fired:
			case <-n.wctx.Done():
				stop()
				s.err = n.wctx.Err()
				return
			}
		}
		if wait *= 2; n.cfg.retry.Max > 0 && wait > n.cfg.retry.Max {
			wait = n.cfg.retry.Max
		}
	}
}

// attempt makes one call, under the request timeout if there is one.
func (n *asyncNode[In, Out]) attempt(v In) (Out, error) {
	if n.cfg.timeout <= 0 {
		return n.fn(n.wctx, v)
	}
	ctx, cancel := context.WithCancelCause(n.wctx)
	defer cancel(nil)
	stop := n.clock.AfterFunc(n.cfg.timeout, func() { cancel(ErrRequestTimeout) })
	out, err := n.fn(ctx, v)
	stop()
	if err != nil && errors.Is(context.Cause(ctx), ErrRequestTimeout) {
		err = fmt.Errorf("%w after %v: %w", ErrRequestTimeout, n.cfg.timeout, err)
	}
	return out, err
}

// Emit takes a record: it waits while MaxInFlight requests are outstanding,
// then hands the record's request to a worker.
func (n *asyncNode[In, Out]) Emit(r Record[In]) error {
	n.cnt.in++
	n.t.cur = n.id
	n.idleHeld = false
	if err := n.poll(); err != nil {
		return err
	}
	// In flight: at most capacity; completed, waiting to be emitted: at
	// most capacity more. (With nothing in flight, nothing waits: every
	// completed result the order allows has been emitted.)
	for n.inflight >= n.cfg.capacity || (n.unemitted >= 2*n.cfg.capacity && n.inflight > 0) {
		if err := n.waitOne(); err != nil {
			return err
		}
	}
	var s *asyncSlot[In, Out]
	if k := len(n.free); k > 0 {
		s = n.free[k-1]
		n.free = n.free[:k-1]
	} else {
		s = &asyncSlot[In, Out]{}
	}
	s.rec, s.seg = r, n.seg
	n.q = append(n.q, asyncItem[In, Out]{s: s})
	n.unemitted++
	n.submit(s)
	return nil
}

// poll takes every completed request without waiting.
func (n *asyncNode[In, Out]) poll() error {
	for {
		select {
		case s := <-n.done:
			if err := n.complete(s); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// waitOne waits for a request to complete and takes it.
func (n *asyncNode[In, Out]) waitOne() error {
	select {
	case s := <-n.done:
		return n.complete(s)
	case <-n.ctx.Done():
		return n.ctx.Err()
	}
}

// wake is the task's poll: workers signal the task when a request
// completes, and results it emits are flushed on, so they do not wait for
// more input.
func (n *asyncNode[In, Out]) wake() error {
	before := n.cnt.out + n.cnt.errs
	hadWM := n.headSeg
	if err := n.poll(); err != nil {
		return err
	}
	if n.cnt.out+n.cnt.errs == before && n.headSeg == hadWM {
		return nil
	}
	return n.forward(control{kind: ctrlFlush})
}

func (n *asyncNode[In, Out]) complete(s *asyncSlot[In, Out]) error {
	n.inflight--
	s.done = true
	n.cnt.errs += s.retries
	n.t.cur = n.id
	if s.err != nil {
		if errors.Is(s.err, context.Canceled) && n.ctx.Err() != nil {
			return n.ctx.Err()
		}
		return opErr(n.name, fmt.Errorf("request for record at %v: %w", s.rec.Time, s.err))
	}
	if n.cfg.unordered && s.seg == n.headSeg {
		if err := n.emit(s); err != nil {
			return err
		}
	}
	return n.advance()
}

// emit passes s's result (or dead letter) on.
func (n *asyncNode[In, Out]) emit(s *asyncSlot[In, Out]) error {
	s.emitted = true
	n.unemitted--
	if s.reason != nil {
		n.cnt.errs++
		if n.dead == nil {
			return opErr(n.name, fmt.Errorf("%w: record at %v rejected and no dead-letter output: %w", ErrNotConnected, s.rec.Time, s.reason))
		}
		return n.dead.Emit(Record[DeadLetter[In]]{Time: s.rec.Time, Value: DeadLetter[In]{Record: s.rec, Operator: n.name, Err: s.reason}})
	}
	n.cnt.out++
	return n.next.Emit(Record[Out]{Time: s.rec.Time, Value: s.out})
}

// advance emits what the queue's head allows: completed results in order
// (ordered mode), and the watermarks whose requests before them are all
// emitted.
func (n *asyncNode[In, Out]) advance() error {
	for n.head < len(n.q) {
		it := n.q[n.head]
		if it.s == nil {
			n.q[n.head] = asyncItem[In, Out]{}
			n.head++
			n.headSeg++
			n.cnt.wm = it.wm
			if err := n.forward(control{kind: ctrlWatermark, wm: it.wm}); err != nil {
				return err
			}
			if n.cfg.unordered { // the next segment's completed results may go now
				for j := n.head; j < len(n.q) && n.q[j].s != nil; j++ {
					if s := n.q[j].s; s.done && !s.emitted {
						if err := n.emit(s); err != nil {
							return err
						}
					}
				}
			}
			continue
		}
		s := it.s
		if !s.emitted {
			if n.cfg.unordered || !s.done {
				break
			}
			if err := n.emit(s); err != nil {
				return err
			}
		}
		n.q[n.head] = asyncItem[In, Out]{}
		n.head++
		var zero Out
		s.rec, s.out, s.err, s.reason, s.retries, s.done, s.emitted = Record[In]{}, zero, nil, nil, 0, false, false
		n.free = append(n.free, s)
	}
	if n.head == len(n.q) {
		n.q, n.head = n.q[:0], 0
		if n.idleHeld {
			n.idleHeld = false
			return n.forward(control{kind: ctrlIdle})
		}
	} else if n.head >= 1024 && 2*n.head >= len(n.q) {
		k := copy(n.q, n.q[n.head:])
		clear(n.q[k:])
		n.q, n.head = n.q[:k], 0
	}
	return nil
}

// forward passes a control message to the main and side outputs.
func (n *asyncNode[In, Out]) forward(c control) error {
	if err := n.next.ctrl(c); err != nil {
		return err
	}
	for _, sc := range n.sideCtrls {
		if err := sc(c); err != nil {
			return err
		}
	}
	return nil
}

func (n *asyncNode[In, Out]) ctrl(c control) error {
	n.t.cur = n.id
	if err := n.poll(); err != nil {
		return err
	}
	switch c.kind {
	case ctrlWatermark:
		if c.wm <= n.wm {
			return nil
		}
		n.wm = c.wm
		if n.head < len(n.q) {
			n.q = append(n.q, asyncItem[In, Out]{wm: c.wm})
			n.seg++
			return nil
		}
		n.cnt.wm = c.wm
		n.headSeg++
		n.seg++
	case ctrlIdle:
		if n.head < len(n.q) {
			n.idleHeld = true
			return nil
		}
	case ctrlEnd:
		for n.head < len(n.q) {
			if err := n.waitOne(); err != nil {
				return err
			}
		}
	case ctrlBarrier:
		if n.st != nil {
			state, err := n.st.snapshot()
			if err != nil {
				return opErr(n.name, err)
			}
			if err := n.co.send(n.ctx, stateMsg{id: c.id, key: n.st.key, state: state, has: true}); err != nil {
				return err
			}
		}
	}
	return n.forward(c)
}

// asyncState is the checkpointed queue: the records of the outstanding
// requests, and the watermarks held between them (Marks[i] comes before
// Recs[At[i]]).
type asyncState[In any] struct {
	Recs  []Record[In]
	At    []int
	Marks []Time
}

// Snapshot saves the queue: outstanding requests and held watermarks.
func (n *asyncNode[In, Out]) Snapshot() ([]byte, error) {
	if n.head == len(n.q) {
		return nil, nil
	}
	var st asyncState[In]
	for _, it := range n.q[n.head:] {
		switch {
		case it.s == nil:
			st.At = append(st.At, len(st.Recs))
			st.Marks = append(st.Marks, it.wm)
		case !it.s.emitted:
			st.Recs = append(st.Recs, it.s.rec)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return nil, fmt.Errorf("snapshot of %d outstanding requests: %w", len(st.Recs), err)
	}
	return buf.Bytes(), nil
}

// Restore puts the queue back; Open issues the requests again.
func (n *asyncNode[In, Out]) Restore(b []byte) error {
	n.restored = nil
	if len(b) == 0 {
		return nil
	}
	var st asyncState[In]
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("%w: async requests: %v", ErrCorruptCheckpoint, err)
	}
	if len(st.At) != len(st.Marks) {
		return fmt.Errorf("%w: async requests: %d mark positions, %d marks", ErrCorruptCheckpoint, len(st.At), len(st.Marks))
	}
	m := 0
	for i := 0; i <= len(st.Recs); i++ {
		for m < len(st.At) && st.At[m] == i {
			n.restored = append(n.restored, asyncItem[In, Out]{wm: st.Marks[m]})
			m++
		}
		if i < len(st.Recs) {
			n.restored = append(n.restored, asyncItem[In, Out]{s: &asyncSlot[In, Out]{rec: st.Recs[i]}})
		}
	}
	if m != len(st.At) {
		return fmt.Errorf("%w: async requests: mark position out of range", ErrCorruptCheckpoint)
	}
	return nil
}

var _ Snapshotter = (*asyncNode[int, int])(nil)
