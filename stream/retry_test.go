package stream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

var errFlaky = errors.New("flaky")

// flakySink fails its first `fails` writes of every record, then takes it.
type flakySink struct {
	mu    sync.Mutex
	fails int
	tries map[int]int
	got   []int
}

func (f *flakySink) Write(_ context.Context, r stream.Record[int]) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tries[r.Value]++; f.tries[r.Value] <= f.fails {
		return errFlaky
	}
	f.got = append(f.got, r.Value)
	return nil
}

// advancer moves the fake clock whenever a timer is pending, until stop.
func advancer(clk *streamtest.Clock, stop <-chan struct{}) {
	for {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := clk.WaitForTimers(ctx, 1)
		cancel()
		if err != nil {
			return
		}
		clk.Advance(time.Second)
	}
}

func TestRetryWritesTransientFailures(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(0, 0))
	stop := make(chan struct{})
	defer close(stop)
	go advancer(clk, stop)
	sink := &flakySink{fails: 2, tries: map[int]int{}}
	p := stream.New(stream.WithClock(clk))
	stream.To(stream.From(p, stream.Slice([]int{1, 2, 3})), sink,
		stream.RetryWrites(stream.Retry{Attempts: 3, Initial: 10 * time.Millisecond, Max: time.Second}))
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []int{1, 2, 3}, sink.got, "every record written once, in order")
	assert.Equal(t, map[int]int{1: 3, 2: 3, 3: 3}, sink.tries)
}

func TestRetryWritesGivesUpNamingTheSink(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(0, 0))
	stop := make(chan struct{})
	defer close(stop)
	go advancer(clk, stop)
	sink := &flakySink{fails: 5, tries: map[int]int{}}
	p := stream.New(stream.WithClock(clk))
	stream.To(stream.From(p, stream.Slice([]int{1, 2})), sink, stream.Name("store"),
		stream.RetryWrites(stream.Retry{Attempts: 3, Initial: time.Millisecond}))
	err := p.Run(context.Background())
	require.ErrorIs(t, err, errFlaky)
	var oe *stream.OperatorError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "store", oe.Op)
	assert.Contains(t, err.Error(), "after 3 attempts")
	assert.Empty(t, sink.got)
	assert.Equal(t, 3, sink.tries[1])

	// A non-retryable error fails at once.
	sink2 := &flakySink{fails: 5, tries: map[int]int{}}
	p2 := stream.New(stream.WithClock(clk))
	stream.To(stream.From(p2, stream.Slice([]int{1})), sink2,
		stream.RetryWrites(stream.Retry{Attempts: 3, Retryable: func(error) bool { return false }}))
	require.ErrorIs(t, p2.Run(context.Background()), errFlaky)
	assert.Equal(t, 1, sink2.tries[1])
}
