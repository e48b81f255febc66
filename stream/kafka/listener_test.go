package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/streamtest"
)

// recordingListener starts partition 0 at offset skip and records the calls.
type recordingListener struct {
	mu       sync.Mutex
	skip     int64
	assigned []map[string]map[int32]kgo.Offset
	revoked  []map[string][]int32
	// committedAtRevoke is the group's committed offsets seen inside
	// PartitionsRevoked (nil for a source without a group).
	committedAtRevoke func() map[int32]int64
	seenCommitted     map[int32]int64
}

func (l *recordingListener) PartitionsAssigned(_ context.Context, start map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.assigned = append(l.assigned, start)
	if _, ok := start["ls"][0]; ok {
		start["ls"][0] = kgo.NewOffset().At(l.skip)
	}
	return start, nil
}

func (l *recordingListener) PartitionsRevoked(_ context.Context, revoked map[string][]int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revoked = append(l.revoked, revoked)
	if l.committedAtRevoke != nil {
		l.seenCommitted = l.committedAtRevoke()
	}
	return nil
}

func (l *recordingListener) PartitionsLost(context.Context, map[string][]int32) error { return nil }

// TestPartitionListener: the listener chooses where assigned partitions
// start, is told at a normal end that every partition leaves (before the
// final commit), and hears nothing after a cancellation.
func TestPartitionListener(t *testing.T) {
	t.Parallel()
	for _, fixed := range []bool{false, true} {
		name := "group"
		if fixed {
			name = "partitions"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, addr := cluster(t, 2, "ls")
			cl := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			var recs []*kgo.Record
			for i := range 200 {
				recs = append(recs, playRecord("ls", int32(i/100), play{User: "u", Seq: i, TS: epoch.UnixMilli()}))
			}
			produce(t, cl, recs...)

			run := func(l *recordingListener, stop bool, upTo int) *tally {
				opts := []kafka.SourceOption{kafka.Brokers(addr), kafka.OnPartitions(l), kafka.ExitWhenIdle(time.Hour)}
				if fixed {
					opts = append(opts, kafka.Partitions("ls", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}))
				} else {
					opts = append(opts, kafka.ConsumerGroup("g-"+name, "ls"),
						kafka.Commit(kafka.CommitPolicyFunc(func(_ time.Time, r kafka.CommitReason, handed kafka.Offsets) kafka.Offsets {
							if r == kafka.Stopped {
								return handed
							}
							return nil
						})))
				}
				clk := streamtest.NewClock(epoch)
				p := stream.New(stream.WithClock(clk))
				d := kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, opts...)))
				tl := newTally()
				stream.To(d.Stream, stream.SinkFunc[play](func(_ context.Context, r stream.Record[play]) error {
					tl.add(r.Value.Seq)
					return nil
				}))
				stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errc := make(chan error, 1)
				go func() { errc <- p.Run(ctx) }()
				tl.waitFor(t, "the records from the listener's offset", func(c map[int]int, _ int) bool {
					for i := int(l.skip); i < upTo; i++ {
						if c[i] == 0 {
							return false
						}
					}
					return true
				})
				if stop {
					clk.Advance(time.Hour)
					require.NoError(t, <-errc)
				} else {
					cancel()
					require.ErrorIs(t, <-errc, context.Canceled)
				}
				return tl
			}

			l := &recordingListener{skip: 30}
			if !fixed {
				l.committedAtRevoke = func() map[int32]int64 { return committed(t, cl, "g-"+name, "ls") }
			}
			tl := run(l, true, 200)
			counts, total := tl.snapshot()
			assert.Equal(t, 170, total, "each record once, none before the listener's offset")
			for seq := range counts {
				assert.GreaterOrEqual(t, seq, 30)
			}
			l.mu.Lock()
			require.NotEmpty(t, l.assigned)
			require.Len(t, l.revoked, 1, "told once that the partitions leave")
			assert.ElementsMatch(t, []int32{0, 1}, l.revoked[0]["ls"])
			assert.Empty(t, l.seenCommitted, "told before the final commit")
			l.mu.Unlock()
			if !fixed {
				assert.Equal(t, map[int32]int64{0: 100, 1: 100}, committed(t, cl, "g-"+name, "ls"))
			}

			// Partition 0 starts over despite the commits: the listener
			// decides.
			l2 := &recordingListener{skip: 0}
			run(l2, false, 100)
			l2.mu.Lock()
			assert.Empty(t, l2.revoked, "no call after a cancellation")
			l2.mu.Unlock()
		})
	}
}
