package streamtest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Step is one step of a [Script].
type Step[T any] struct {
	kind   stepKind
	record stream.Record[T]
	wm     stream.Time
	wait   <-chan struct{}
}

type stepKind uint8

const (
	stepRecord stepKind = iota
	stepWatermark
	stepIdle
	stepWait
	stepFlush
)

// Rec is a step that emits v at time t.
func Rec[T any](v T, t stream.Time) Step[T] {
	return Step[T]{kind: stepRecord, record: stream.Record[T]{Time: t, Value: v}}
}

// Watermark is a step that emits the watermark w.
func Watermark[T any](w stream.Time) Step[T] { return Step[T]{kind: stepWatermark, wm: w} }

// Idle is a step that marks the source idle.
func Idle[T any]() Step[T] { return Step[T]{kind: stepIdle} }

// Flush is a step that hands the source's buffered records and its latest
// watermark on to every downstream exchange instance now, as a source does
// before it waits for input.
func Flush[T any]() Step[T] { return Step[T]{kind: stepFlush} }

// WaitFor is a step that flushes the source's output and blocks until ch is
// closed (or the run is cancelled): it lets a test order events across
// several sources.
func WaitFor[T any](ch <-chan struct{}) Step[T] { return Step[T]{kind: stepWait, wait: ch} }

// Script is a bounded source that performs its steps in order, then ends.
type Script[T any] struct{ steps []Step[T] }

// NewScript returns a Script of steps.
func NewScript[T any](steps ...Step[T]) *Script[T] { return &Script[T]{steps: steps} }

// Run performs the steps.
func (s *Script[T]) Run(ctx context.Context, out stream.SourceOutput[T]) error {
	for _, st := range s.steps {
		var err error
		switch st.kind {
		case stepRecord:
			err = out.Emit(st.record)
		case stepWatermark:
			err = out.EmitWatermark(st.wm)
		case stepIdle:
			err = out.MarkIdle()
		case stepFlush:
			err = out.Flush()
		case stepWait:
			if err = out.Flush(); err == nil {
				select {
				case <-st.wait:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Event is what a [Sink] saw: a record, or a watermark (IsWatermark).
type Event[T any] struct {
	IsWatermark bool
	Watermark   stream.Time
	Record      stream.Record[T]
}

// Sink records every record and watermark it receives, in order. Its
// methods are safe to call while the pipeline runs.
type Sink[T any] struct {
	mu      sync.Mutex
	events  []Event[T]
	flushed bool
}

// NewSink returns an empty Sink.
func NewSink[T any]() *Sink[T] { return &Sink[T]{} }

// Write records r.
func (s *Sink[T]) Write(_ context.Context, r stream.Record[T]) error {
	s.mu.Lock()
	s.events = append(s.events, Event[T]{Record: r})
	s.mu.Unlock()
	return nil
}

// WriteWatermark records w.
func (s *Sink[T]) WriteWatermark(_ context.Context, w stream.Time) error {
	s.mu.Lock()
	s.events = append(s.events, Event[T]{IsWatermark: true, Watermark: w})
	s.mu.Unlock()
	return nil
}

// Finish records that the input ended.
func (s *Sink[T]) Finish(context.Context) error {
	s.mu.Lock()
	s.flushed = true
	s.mu.Unlock()
	return nil
}

// Ended reports whether the sink saw the end of its input.
func (s *Sink[T]) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushed
}

// Events returns a copy of everything seen so far, in order.
func (s *Sink[T]) Events() []Event[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event[T](nil), s.events...)
}

// Records returns the records seen so far, in order.
func (s *Sink[T]) Records() []stream.Record[T] {
	var out []stream.Record[T]
	for _, e := range s.Events() {
		if !e.IsWatermark {
			out = append(out, e.Record)
		}
	}
	return out
}

// Values returns the values of the records seen so far, in order.
func (s *Sink[T]) Values() []T {
	var out []T
	for _, r := range s.Records() {
		out = append(out, r.Value)
	}
	return out
}

// Watermarks returns the watermarks seen so far, in order.
func (s *Sink[T]) Watermarks() []stream.Time {
	var out []stream.Time
	for _, e := range s.Events() {
		if e.IsWatermark {
			out = append(out, e.Watermark)
		}
	}
	return out
}

// WatermarkBefore returns, for each record, the last watermark the sink saw
// before it (MinTime if none): what the record's operator knew when it was
// emitted.
func (s *Sink[T]) WatermarkBefore() []stream.Time {
	var out []stream.Time
	w := stream.MinTime
	for _, e := range s.Events() {
		if e.IsWatermark {
			w = e.Watermark
			continue
		}
		out = append(out, w)
	}
	return out
}

// Clock is a fake [stream.Clock]: time stands still until Advance or Set
// moves it, and then due callbacks run (synchronously, in time order).
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	waitCh chan struct{}
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

var _ stream.AbsoluteClock = (*Clock)(nil)

// NewClock returns a fake clock at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start, waitCh: make(chan struct{})} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	return c.scheduleLocked(c.now.Add(d), f)
}

// AfterFuncAt schedules f for at, in one step with reading the time (see
// [stream.AbsoluteClock]): an Advance on another goroutine cannot come between
// them. If at is not after now, f runs before AfterFuncAt returns.
func (c *Clock) AfterFuncAt(at time.Time, f func()) func() bool {
	c.mu.Lock()
	return c.scheduleLocked(at, f)
}

// scheduleLocked adds a timer for at and unlocks c.mu.
func (c *Clock) scheduleLocked(at time.Time, f func()) func() bool {
	t := &fakeTimer{at: at, f: f}
	c.timers = append(c.timers, t)
	close(c.waitCh)
	c.waitCh = make(chan struct{})
	due := !at.After(c.now)
	c.mu.Unlock()
	if due {
		c.Advance(0)
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Pending returns the number of scheduled callbacks that have not run.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// WaitForTimers blocks until at least n callbacks are pending or ctx is done.
func (c *Clock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		pending := 0
		for _, t := range c.timers {
			if !t.stopped {
				pending++
			}
		}
		ch := c.waitCh
		c.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Advance moves the clock forward by d and runs the callbacks that became due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}
