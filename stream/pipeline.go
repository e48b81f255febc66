package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Pipeline is a dataflow under construction. Building it starts nothing:
// [From], [Map], [KeyBy], [To] and the rest only describe the graph, and
// [Pipeline.Run] executes it. Mistakes found while building (nil functions,
// bad parallelism, a source used twice) are collected and returned by Run.
//
// A Pipeline is built from one goroutine and run once.
type Pipeline struct {
	cfg     config
	errs    []error
	sources []func(b *builder) error
	used    map[any]string
	names   map[string]bool // operator names taken: true if given with Name
	ran     atomic.Bool

	stopMu   sync.Mutex
	stopMode stopMode                  // set by Stop or Drain
	stoppers []context.CancelCauseFunc // cancel each running source's context
	runDone  chan struct{}             // closed when Run returns
	doneOnce sync.Once
}

type config struct {
	parallelism    int
	parallelismSet bool // WithParallelism was given
	maxParallelism int
	stateBackend   StateBackend
	batchSize      int
	capacity       int
	clock          Clock
	logger         *slog.Logger
	metrics        Metrics
	idleTimeout    time.Duration

	store            CheckpointStore
	ckptInterval     time.Duration
	allowNonRestored bool
}

// Option configures a Pipeline. Options are values of a sealed interface:
// only this package defines them.
type Option interface{ applyPipeline(*config) error }

type optionFunc func(*config) error

func (f optionFunc) applyPipeline(c *config) error { return f(c) }

// WithParallelism sets the default number of parallel instances downstream
// of an exchange (KeyBy, Rebalance). The default is runtime.GOMAXPROCS(0),
// capped at the maximum parallelism ([WithMaxParallelism]); a larger n makes
// Run fail with [ErrInvalid].
func WithParallelism(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: parallelism %d < 1", ErrInvalid, n)
		}
		c.parallelism, c.parallelismSet = n, true
		return nil
	})
}

// WithBatchSize sets the default number of records an exchange carries per
// message. The default depends on the record type: 1024 records, fewer for
// records over 64 bytes, so that a batch stays near 64 KiB (see
// [DefaultBatchSize]).
func WithBatchSize(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: batch size %d < 1", ErrInvalid, n)
		}
		c.batchSize = n
		return nil
	})
}

// WithChannelCapacity sets the default number of batches an exchange channel
// holds before the sender blocks (default 8): the backpressure bound.
func WithChannelCapacity(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: channel capacity %d < 1", ErrInvalid, n)
		}
		c.capacity = n
		return nil
	})
}

// WithClock injects the processing-time clock (default [SystemClock]).
func WithClock(clk Clock) Option {
	return optionFunc(func(c *config) error {
		if clk == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalid)
		}
		c.clock = clk
		return nil
	})
}

// WithLogger sets the logger operators get from their Context, which the
// runtime also logs its lifecycle to: "stream: pipeline started" and
// "stream: restored checkpoint" (Info), "stream: checkpoint completed"
// (Debug, with its id, duration, bytes and whether it is the final one),
// "stream: checkpoint failed" (Warn, before the run fails), and at the end
// "stream: pipeline ended" (Info, with how: end of input, stopped with a
// savepoint, drained or cancelled, and the final checkpoint's id) or
// "stream: pipeline failed" (Error, with the error Run returns). The
// default, and nil, is silent.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		c.logger = l
		return nil
	})
}

// WithMetrics sets the metrics hook (default [NopMetrics]).
func WithMetrics(m Metrics) Option {
	return optionFunc(func(c *config) error {
		c.metrics = m
		return nil
	})
}

// WithIdleTimeout makes every exchange treat an input that has delivered
// nothing for d (processing time, by the pipeline's clock) as idle, so it
// stops holding back the minimum watermark until it produces again. Zero, the
// default, disables the timeout; sources can still declare idleness with
// [SourceOutput.MarkIdle].
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: negative idle timeout", ErrInvalid)
		}
		c.idleTimeout = d
		return nil
	})
}

// New returns an empty pipeline. Invalid options are reported by Run.
func New(opts ...Option) *Pipeline {
	p := &Pipeline{
		cfg: config{
			parallelism: runtime.GOMAXPROCS(0),
			capacity:    8,
			clock:       SystemClock{},

			maxParallelism: DefaultMaxParallelism,
		},
		used:    map[any]string{},
		names:   map[string]bool{},
		runDone: make(chan struct{}),
	}
	for _, o := range opts {
		if o == nil {
			p.fail(fmt.Errorf("%w: nil option", ErrInvalid))
			continue
		}
		if err := o.applyPipeline(&p.cfg); err != nil {
			p.fail(err)
		}
	}
	if c := &p.cfg; c.parallelism > c.maxParallelism {
		if c.parallelismSet {
			p.failf("parallelism %d > max parallelism %d", c.parallelism, c.maxParallelism)
		}
		c.parallelism = c.maxParallelism
	}
	return p
}

func (p *Pipeline) fail(err error) { p.errs = append(p.errs, err) }

func (p *Pipeline) failf(format string, args ...any) {
	p.fail(fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
}

// claim records that v (a source or sink) is used by name, and reports
// whether it was free.
func (p *Pipeline) claim(v any, name string) bool {
	if v == nil {
		return true
	}
	if reflect.TypeOf(v).Kind() != reflect.Pointer {
		return true // only pointers have an identity to track
	}
	if prev, ok := p.used[v]; ok {
		p.failf("%s: already used by %s", name, prev)
		return false
	}
	p.used[v] = name
	return true
}

// Run executes the pipeline. Every goroutine runs under one errgroup: the
// first error cancels the rest, and Run returns only after every goroutine
// has exited — on success, on error and on cancellation. Errors name the
// operator they came from. When all sources are bounded, Run returns nil once
// their end has flushed through every operator and sink. [Pipeline.Stop] and
// [Pipeline.Drain] end a run gracefully from another goroutine; cancelling
// ctx ends it at once, without a final checkpoint.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.doneOnce.Do(func() { close(p.runDone) })
	if len(p.errs) > 0 {
		return errors.Join(p.errs...)
	}
	if !p.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	if len(p.sources) == 0 {
		return ErrNoSource
	}
	g, gctx := errgroup.WithContext(ctx)
	rt := &runtime_{p: p, ctx: gctx, exchanges: map[any]any{}}
	if p.cfg.store != nil {
		latest, err := p.cfg.store.Latest(ctx)
		if err != nil {
			return &OperatorError{Op: "checkpoint", Err: err}
		}
		rt.co = &coordinator{store: p.cfg.store, interval: p.cfg.ckptInterval, clock: p.cfg.clock,
			parts: make(chan stateMsg, 64), tick: make(chan struct{}, 1), maxPar: p.cfg.maxParallelism, failed: &rt.failed,
			log: loggerOf(p)}
		rt.co.metrics, _ = p.cfg.metrics.(CheckpointMetrics)
		if latest != nil {
			rt.co.restored, rt.co.next, rt.co.restoreID = latest.States, latest.ID, latest.ID
			if rt.co.restored == nil {
				rt.co.restored = map[string][]byte{}
			}
			if err := rt.co.checkRestoredMaxParallelism(); err != nil {
				return &OperatorError{Op: "checkpoint", Err: err}
			}
		}
	}
	for _, build := range p.sources {
		if err := build(rt.newBuilder()); err != nil {
			return err
		}
	}
	if rt.co != nil {
		if err := rt.co.checkNonRestored(p); err != nil {
			return &OperatorError{Op: "checkpoint", Err: err}
		}
	}
	rt.logStart()
	var wg sync.WaitGroup
	for _, t := range rt.tasks {
		wg.Add(1)
		g.Go(func() error {
			err := t.run(gctx)
			if err != nil {
				rt.failed.Store(true)
			}
			wg.Done()
			return err
		})
	}
	for _, a := range rt.agents {
		g.Go(func() error { return a(gctx) })
	}
	if rt.co != nil {
		done := make(chan struct{})
		g.Go(func() error {
			wg.Wait()
			close(done)
			return nil
		})
		g.Go(func() error { return rt.co.run(gctx, done) })
	}
	err := rt.close(ctx, g.Wait())
	rt.logEnd(ctx, err)
	return err
}

// close ends a run whose goroutines have all exited: on failure it aborts
// the sinks' open transactions, then it closes every instance (after the
// final checkpoint, which may still need the sources' and sinks' clients).
func (rt *runtime_) close(ctx context.Context, err error) error {
	if err != nil {
		actx := context.WithoutCancel(ctx)
		for _, a := range rt.aborters {
			if aerr := a(actx); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
	}
	for _, t := range rt.tasks {
		for _, c := range t.closers {
			if cerr := safeClose(c); cerr != nil && err == nil {
				err = cerr
			}
		}
	}
	return err
}

func safeClose(c func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &OperatorError{Op: "close", Err: &PanicError{Value: r, Stack: debug.Stack()}}
		}
	}()
	return c()
}

// runtime_ is the per-run state: tasks and exchange channels. It holds the
// run's context because the nodes it builds call sinks with it; it never
// outlives Run.
type runtime_ struct {
	p         *Pipeline
	ctx       context.Context
	tasks     []*task
	exchanges map[any]any
	co        *coordinator // nil without checkpoints
	failed    atomic.Bool  // a task failed
	agents    []func(ctx context.Context) error
	aborters  []func(ctx context.Context) error
	started   time.Time // by the pipeline's clock, for the lifecycle log
}

type builder struct {
	rt *runtime_
	t  *task
}

func (rt *runtime_) newBuilder() *builder {
	t := &task{clock: rt.p.cfg.clock, wake: make(chan struct{}, 1), metricsOn: rt.p.cfg.metrics != nil}
	rt.tasks = append(rt.tasks, t)
	return &builder{rt: rt, t: t}
}

// task is one goroutine: a head (a source, or an exchange receiver) and the
// chain of operators it calls directly.
type task struct {
	body      func(ctx context.Context) error
	openers   []func() error
	closers   []func() error // run by Run once every goroutine has exited
	names     []string       // operator names, indexed by node id
	cur       int            // node running user code, for naming a panic
	counts    []*counts
	metricsOn bool

	clock     Clock
	wake      chan struct{}
	polls     []func() error // run on every wake (async operators' completions)
	timers    timerHeap
	armedAt   time.Time
	stopTimer func() bool
}

// node registers an operator name in the task and returns its id.
func (t *task) node(name string) int {
	t.names = append(t.names, name)
	return len(t.names) - 1
}

func (t *task) newCounts(rt *runtime_, name string, inst int) *counts {
	c := &counts{}
	if rt.p.cfg.metrics != nil {
		c.m = rt.p.cfg.metrics.Operator(name, inst)
	}
	t.counts = append(t.counts, c)
	return c
}

func (t *task) report() {
	if !t.metricsOn {
		return
	}
	for _, c := range t.counts {
		c.report()
	}
}

// addOpener adds open, the Open (or restore) of node id named name, to the
// calls the task makes before its body: the node is marked as running, so
// a panic in open is the node's, and open's error is named after it.
func (t *task) addOpener(id int, name string, open func() error) {
	t.openers = append(t.openers, func() error {
		t.cur = id
		return opErr(name, open())
	})
}

// addCloser adds c, the Close of the node named name, to the calls Run
// makes once every goroutine has exited; its error, or a panic in it, is
// named after the node.
func (t *task) addCloser(name string, c func() error) {
	t.closers = append(t.closers, func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &OperatorError{Op: name, Err: &PanicError{Value: r, Stack: debug.Stack()}}
			}
		}()
		return opErr(name, c())
	})
}

func (t *task) run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			name := "task"
			if t.cur >= 0 && t.cur < len(t.names) {
				name = t.names[t.cur]
			}
			err = &OperatorError{Op: name, Err: &PanicError{Value: r, Stack: debug.Stack()}}
		}
		if t.stopTimer != nil {
			t.stopTimer()
		}
		t.report()
	}()
	for _, o := range t.openers {
		if err := o(); err != nil {
			return err
		}
	}
	err = t.body(ctx)
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		// Cancellation is not an operator's failure: report it plainly,
		// whichever task noticed it first.
		return cerr
	}
	return err
}
