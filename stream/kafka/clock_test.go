package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/streamtest"
)

// jumpingClock is a Clock without AfterFuncAt that moves by jump during its
// first AfterFunc call, before registering: another goroutine's Advance
// landing between the source's clock read and its timer registration.
type jumpingClock struct {
	fake *streamtest.Clock
	jump time.Duration
	once sync.Once
}

func (c *jumpingClock) Now() time.Time { return c.fake.Now() }

func (c *jumpingClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.once.Do(func() { c.fake.Advance(c.jump) })
	return c.fake.AfterFunc(d, f)
}

// The poll's wake-up is a deadline: a clock that passes the idle exit while
// the source registers its timer ends the source, rather than scheduling the
// exit a whole ExitWhenIdle later (the hang of issue 18 item 9).
func TestIdleExitSurvivesClockMovingDuringRegistration(t *testing.T) {
	t.Parallel()
	for _, group := range []bool{false, true} {
		t.Run(map[bool]string{false: "partitions", true: "group"}[group], func(t *testing.T) {
			_, addr := cluster(t, 1, "empty")
			clk := streamtest.NewClock(epoch)
			opts := []kafka.SourceOption{
				kafka.Brokers(addr), kafka.ExitWhenIdle(time.Hour),
				kafka.Clock(&jumpingClock{fake: clk, jump: time.Hour}),
			}
			if group {
				opts = append(opts, kafka.ConsumerGroup("g", "empty"))
			} else {
				opts = append(opts, kafka.Partitions("empty", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()}))
			}
			p := stream.New(stream.WithClock(clk))
			stream.To(kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, opts...))).Stream, stream.Discard[play]())
			// The guard only turns a regression into a failure, not a hang.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, p.Run(ctx))
		})
	}
}
