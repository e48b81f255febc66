package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// wmChan forwards every watermark it sees to a channel.
type wmChan struct{ ch chan stream.Time }

func (w wmChan) Write(context.Context, stream.Record[int]) error { return nil }
func (w wmChan) WriteWatermark(ctx context.Context, t stream.Time) error {
	select {
	case w.ch <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func waitWatermark(t *testing.T, ch <-chan stream.Time, want stream.Time) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case w := <-ch:
			if w == want {
				return
			}
			require.Less(t, w, want, "watermark overshot")
		case <-timeout:
			t.Fatalf("watermark %v never arrived", want)
		}
	}
}

func TestIdleTimeoutReleasesWatermark(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(0, 0))
	release := make(chan struct{})
	p := stream.New(stream.WithClock(clk), stream.WithIdleTimeout(time.Second))
	a := stream.From(p, streamtest.NewScript(
		streamtest.Rec(1, 10), streamtest.Watermark[int](100), streamtest.WaitFor[int](release)))
	b := stream.From(p, streamtest.NewScript(
		streamtest.Rec(2, 5), streamtest.Watermark[int](5), streamtest.WaitFor[int](release)))
	wms := make(chan stream.Time, 16)
	stream.To(stream.Union([]stream.Stream[int]{a, b}), wmChan{ch: wms})
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	// Both inputs active: the minimum, 5, holds.
	waitWatermark(t, wms, 5)
	// After a second of silence both are idle, and the largest watermark
	// they reached is released.
	require.NoError(t, clk.WaitForTimers(context.Background(), 1))
	clk.Advance(time.Second)
	waitWatermark(t, wms, 100)
	close(release)
	waitWatermark(t, wms, stream.MaxTime)
	require.NoError(t, <-done)
}

func TestMarkIdleAndRejoin(t *testing.T) {
	t.Parallel()
	step1, step2, step3 := make(chan struct{}), make(chan struct{}), make(chan struct{})
	p := stream.New()
	a := stream.From(p, streamtest.NewScript(
		streamtest.Watermark[int](50), streamtest.WaitFor[int](step2)))
	b := stream.From(p, streamtest.NewScript(
		streamtest.Watermark[int](10), streamtest.Idle[int](), streamtest.WaitFor[int](step1),
		streamtest.Watermark[int](150), streamtest.WaitFor[int](step3)))
	wms := make(chan stream.Time, 16)
	stream.To(stream.Union([]stream.Stream[int]{a, b}), wmChan{ch: wms})
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	// b is idle: a's 50 rules, not min(50, 10).
	waitWatermark(t, wms, 50)
	// b rejoins at 150 and a ends, in either order: b's 150 rules.
	close(step1)
	close(step2)
	waitWatermark(t, wms, 150)
	close(step3)
	waitWatermark(t, wms, stream.MaxTime)
	require.NoError(t, <-done)
}

// timerOp emits "tick" on every processing-time timer, which it re-arms.
type timerOp struct {
	c     *stream.Context
	every time.Duration
}

func (o *timerOp) Open(c *stream.Context) error {
	o.c = c
	c.RegisterTimer(c.Clock().Now().Add(o.every))
	return nil
}
func (o *timerOp) ProcessRecord(stream.Record[int], stream.Emitter[string]) error { return nil }
func (o *timerOp) ProcessWatermark(stream.Time, stream.Emitter[string]) error     { return nil }
func (o *timerOp) OnTimer(now time.Time, out stream.Emitter[string]) error {
	o.c.RegisterTimer(now.Add(o.every))
	return out.Emit(stream.At("tick "+now.UTC().Format("15:04:05"), 0))
}

func TestProcessingTimeTimersUseInjectedClock(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	in := make(chan int)
	p := stream.New(stream.WithClock(clk))
	s := stream.Rebalance(stream.From(p, stream.Chan(in)), stream.Parallelism(1))
	ticks := make(chan string, 8)
	stream.To(stream.Apply(s, func() stream.Operator[int, string] { return &timerOp{every: time.Minute} }, stream.Name("ticker")), stream.ChanSink(ticks))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	require.NoError(t, clk.WaitForTimers(context.Background(), 1))
	clk.Advance(time.Minute)
	assert.Equal(t, "tick 00:01:00", <-ticks)
	require.NoError(t, clk.WaitForTimers(context.Background(), 1))
	clk.Advance(time.Minute)
	assert.Equal(t, "tick 00:02:00", <-ticks)
	close(in)
	require.NoError(t, <-done)
}

// TestBackpressureBoundsBuffering runs a fast source into a sink that
// stalls, and checks how far the source got: no further than the exchange's
// batches and channel slots allow.
func TestBackpressureBoundsBuffering(t *testing.T) {
	t.Parallel()
	const batch, capacity = 16, 2
	unblock := make(chan struct{})
	var emitted int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := stream.New(stream.WithBatchSize(batch), stream.WithChannelCapacity(capacity))
	src := stream.Generate(-1, func(i int64) stream.Record[int64] { emitted = i + 1; return stream.At(i, 0) })
	s := stream.Rebalance(stream.From(p, src), stream.Parallelism(1))
	first := make(chan struct{})
	stream.To(s, stream.SinkFunc[int64](func(ctx context.Context, r stream.Record[int64]) error {
		if r.Value == 0 {
			close(first)
			select {
			case <-unblock:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-first
	// The sink holds batch 1; the channel holds `capacity` batches; the
	// sender fills one more batch and blocks sending it.
	limit := int64(batch * (capacity + 2))
	// Proving a negative takes time: give the source 300ms to run ahead.
	time.Sleep(300 * time.Millisecond)
	cancel()
	close(unblock)
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.LessOrEqual(t, emitted, limit, "source ran ahead of a stalled sink")
	assert.GreaterOrEqual(t, emitted, int64(batch), "source never filled a batch")
}
