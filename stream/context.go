package stream

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Context describes an operator instance's place in the running pipeline and
// gives it the runtime's services: the current watermark, the injected clock,
// processing-time timers, side outputs, logging and metrics. It is handed to
// [Opener.Open] and belongs to the instance's goroutine.
type Context struct {
	name        string
	instance    int
	parallelism int
	maxPar      int
	wm          Time
	t           *task
	cnt         *counts
	logger      *slog.Logger
	sides       map[any]any // *OutputTag[X] -> inlet[X]
	outs        map[any]any // *OutputTag[X] -> Emitter[X] (see sideEmitter)
	onTimer     func(now time.Time) error
	ctx         context.Context
}

// Name returns the operator's unique name in the pipeline.
func (c *Context) Name() string { return c.name }

// Instance returns this instance's index, 0 <= Instance < Parallelism.
func (c *Context) Instance() int { return c.instance }

// Parallelism returns the number of parallel instances of the operator.
func (c *Context) Parallelism() int { return c.parallelism }

// MaxParallelism returns the pipeline's maximum parallelism: its number of
// key groups (see [WithMaxParallelism]).
func (c *Context) MaxParallelism() int { return c.maxPar }

// KeyGroups returns the key groups this instance owns: on a keyed stream,
// every record it receives has a key in one of them (see
// [KeyedStream.KeyGroup]), and a checkpoint restored at another
// parallelism gives it the state of exactly these groups.
func (c *Context) KeyGroups() KeyGroupRange {
	return KeyGroupRangeOf(c.instance, c.parallelism, c.maxPar)
}

// Watermark returns the operator's current input watermark.
func (c *Context) Watermark() Time { return c.wm }

// RunContext returns the context of the running pipeline: it is cancelled
// when the run stops (on error or cancellation). Operators that block on I/O
// (a table lookup, say) pass it to their calls.
func (c *Context) RunContext() context.Context { return c.ctx }

// Clock returns the pipeline's processing-time clock.
func (c *Context) Clock() Clock { return c.t.clock }

// Logger returns the pipeline's logger (silent unless [WithLogger] set one).
func (c *Context) Logger() *slog.Logger { return c.logger }

// CountLate adds n to the operator's late-record count in the metrics hook.
func (c *Context) CountLate(n int64) { c.cnt.late += n }

// CountError adds n to the operator's rejected-record count in the metrics hook.
func (c *Context) CountError(n int64) { c.cnt.errs += n }

// RegisterTimer asks for the operator's [TimerHandler.OnTimer] to be called
// once the clock reaches at. Timers at the same time may be coalesced.
func (c *Context) RegisterTimer(at time.Time) {
	if c.onTimer == nil {
		return
	}
	c.t.addTimer(at, c.onTimer)
}

// OutputTag names a side output of type T: a second output of an operator
// (late records, dead letters, ...). Tags are compared by identity.
type OutputTag[T any] struct{ name string }

// NewOutputTag returns a new tag; name is used in errors.
func NewOutputTag[T any](name string) *OutputTag[T] { return &OutputTag[T]{name: name} }

// Name returns the tag's name.
func (t *OutputTag[T]) Name() string { return t.name }

// Output returns the emitter of the side output tag in the operator owning c.
// If nothing consumes that side output, emitting to it fails with
// [ErrNotConnected]: use [Connected] to decide beforehand.
func Output[T any](c *Context, tag *OutputTag[T]) Emitter[T] {
	if e, ok := c.outs[tag]; ok {
		return e.(Emitter[T])
	}
	return notConnected[T]{op: c.name, tag: tag.name}
}

// Connected reports whether a consumer is attached to the side output tag of
// the operator owning c.
func Connected[T any](c *Context, tag *OutputTag[T]) bool {
	_, ok := c.sides[tag]
	return ok
}

type notConnected[T any] struct{ op, tag string }

func (n notConnected[T]) Emit(Record[T]) error {
	return &OperatorError{Op: n.op, Err: fmt.Errorf("%w: side output %q", ErrNotConnected, n.tag)}
}

// timers

type timerEntry struct {
	at time.Time
	fn func(now time.Time) error
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (t *task) addTimer(at time.Time, fn func(time.Time) error) {
	heap.Push(&t.timers, timerEntry{at: at, fn: fn})
	t.arm()
}

// arm makes sure a clock callback will wake the task at its earliest timer.
func (t *task) arm() {
	if len(t.timers) == 0 {
		return
	}
	next := t.timers[0].at
	if t.stopTimer != nil && !t.armedAt.After(next) {
		return
	}
	if t.stopTimer != nil {
		t.stopTimer()
	}
	t.armedAt = next
	wake := t.wake
	t.stopTimer = AfterFuncAt(t.clock, next, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
}

// fireTimers runs after a wake: the task's polls, then every timer due by
// the clock's now. A wake may come from a poll's goroutine rather than the
// armed timer, so the timer is re-armed only when one was due.
func (t *task) fireTimers() error {
	for _, p := range t.polls {
		if err := p(); err != nil {
			return err
		}
	}
	if len(t.timers) == 0 {
		return nil
	}
	now := t.clock.Now()
	if t.timers[0].at.After(now) && t.stopTimer != nil {
		return nil
	}
	if t.stopTimer != nil {
		t.stopTimer()
		t.stopTimer = nil
	}
	for len(t.timers) > 0 && !t.timers[0].at.After(now) {
		e := heap.Pop(&t.timers).(timerEntry)
		if err := e.fn(now); err != nil {
			return err
		}
	}
	t.arm()
	return nil
}
