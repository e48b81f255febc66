package stream_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// racingClock is a Clock without AfterFuncAt whose first AfterFunc call is
// preceded by an advance of jump: what another goroutine's Advance between a
// caller's Now and its AfterFunc looks like.
type racingClock struct {
	fake *streamtest.Clock
	jump time.Duration
	once sync.Once
}

func (c *racingClock) Now() time.Time { return c.fake.Now() }

func (c *racingClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.once.Do(func() { c.fake.Advance(c.jump) })
	return c.fake.AfterFunc(d, f)
}

func TestAfterFuncAt(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	cases := []struct {
		name  string
		clock func(*streamtest.Clock) stream.Clock
		jump  time.Duration // how far the clock moves during registration
	}{
		{"absolute clock", func(c *streamtest.Clock) stream.Clock { return c }, 0},
		{"relative clock, no move", func(c *streamtest.Clock) stream.Clock { return &racingClock{fake: c} }, 0},
		{"relative clock, moved short of the deadline", func(c *streamtest.Clock) stream.Clock { return &racingClock{fake: c, jump: 400 * time.Millisecond} }, 400 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := streamtest.NewClock(start)
			var n atomic.Int32
			stream.AfterFuncAt(c.clock(fake), start.Add(time.Second), func() { n.Add(1) })
			fake.Advance(time.Second - c.jump - 1)
			assert.Zero(t, n.Load(), "ran before the deadline")
			fake.Advance(1)
			assert.Equal(t, int32(1), n.Load(), "not run at the deadline")
			fake.Advance(time.Hour)
			assert.Equal(t, int32(1), n.Load(), "ran twice")
		})
	}
	t.Run("relative clock moved past the deadline", func(t *testing.T) {
		fake := streamtest.NewClock(start)
		ran := make(chan struct{})
		stream.AfterFuncAt(&racingClock{fake: fake, jump: time.Hour}, start.Add(time.Second), func() { close(ran) })
		select { // at once, not an hour later
		case <-ran:
		case <-time.After(time.Minute):
			t.Fatal("the callback did not run though the clock passed its deadline")
		}
	})
	t.Run("stop", func(t *testing.T) {
		for _, clk := range []func(*streamtest.Clock) stream.Clock{
			func(c *streamtest.Clock) stream.Clock { return c },
			func(c *streamtest.Clock) stream.Clock { return &racingClock{fake: c, jump: time.Millisecond} },
		} {
			fake := streamtest.NewClock(start)
			var n atomic.Int32
			stop := stream.AfterFuncAt(clk(fake), start.Add(time.Second), func() { n.Add(1) })
			assert.True(t, stop())
			fake.Advance(time.Hour)
			assert.Zero(t, n.Load())
			assert.False(t, stop())
		}
	})
	t.Run("deadline passed", func(t *testing.T) {
		fake := streamtest.NewClock(start)
		var n atomic.Int32
		stream.AfterFuncAt(fake, start.Add(-time.Second), func() { n.Add(1) })
		assert.Equal(t, int32(1), n.Load())
	})
}

func TestFakeClockAfterFuncAtWithConcurrentAdvance(t *testing.T) {
	t.Parallel()
	// However an Advance interleaves with AfterFuncAt, the callback runs by
	// the time the clock has reached its deadline.
	for range 200 {
		start := time.Unix(0, 0)
		fake := streamtest.NewClock(start)
		ran := make(chan struct{})
		advanced := make(chan struct{})
		go func() { fake.Advance(time.Hour); close(advanced) }()
		stream.AfterFuncAt(fake, start.Add(time.Minute), func() { close(ran) })
		<-advanced
		fake.Advance(0)
		<-ran
	}
}
