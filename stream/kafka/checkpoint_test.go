package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// countSink is a checkpointed sink: its state is how often it saw each seq.
type countSink struct {
	mu       sync.Mutex
	counts   map[int]int
	restored int // records in the restored state
	failFrom int // when > 0, Write fails on a seq >= failFrom
	tl       *tally
}

func newCountSink() *countSink { return &countSink{counts: map[int]int{}, tl: newTally()} }

var errInjected = errors.New("injected sink failure")

func (s *countSink) Write(_ context.Context, r stream.Record[play]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failFrom > 0 && r.Value.Seq >= s.failFrom {
		return errInjected
	}
	s.counts[r.Value.Seq]++
	s.tl.add(r.Value.Seq)
	return nil
}

func (s *countSink) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.counts)
}

func (s *countSink) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[int]int{}
	if err := json.Unmarshal(b, &s.counts); err != nil {
		return err
	}
	for seq, n := range s.counts {
		s.restored += n
		for range n {
			s.tl.add(seq)
		}
	}
	return nil
}

func (s *countSink) state() (map[int]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[int]int, len(s.counts))
	for k, v := range s.counts {
		m[k] = v
	}
	return m, s.restored
}

// notifyStore reports every checkpoint it has stored.
type notifyStore struct {
	stream.CheckpointStore
	saved chan int64
}

func (s notifyStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	if err := s.CheckpointStore.Save(ctx, cp); err != nil {
		return err
	}
	select {
	case s.saved <- cp.ID:
	default:
	}
	return nil
}

// TestCheckpointRestartIsExactlyOnce: a pipeline checkpoints, goes on
// consuming, and dies (cancelled, or its sink fails); the group's committed
// offsets are those of the completed checkpoint, not what was consumed
// after it. A new run restores the checkpoint, seeks its source back to the
// checkpoint's positions (also under a new group name, or on fixed
// partitions, where nothing was committed) and ends with every record
// exactly once in the state.
func TestCheckpointRestartIsExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fixed bool // fixed partitions instead of a consumer group
		fail  bool // die by a sink failure instead of a cancellation
	}{
		{name: "group/cancelled"},
		{name: "group/sink-failure", fail: true},
		{name: "partitions/cancelled", fixed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const parts = 3
			_, addr := cluster(t, parts, "ck")
			cl := client(t, addr)
			seq := 0
			send := func(n int) {
				recs := make([]*kgo.Record, n)
				for i := range recs {
					recs[i] = playRecord("ck", 0, play{User: fmt.Sprintf("u%d", seq%11), Seq: seq, TS: epoch.Add(time.Duration(seq) * time.Millisecond).UnixMilli()})
					seq++
				}
				produce(t, cl, recs...)
			}
			dir, err := stream.NewDirStore(t.TempDir())
			require.NoError(t, err)
			store := notifyStore{CheckpointStore: dir, saved: make(chan int64, 1)}
			source := func(group string, opts ...kafka.SourceOption) *kafka.Source[play] {
				base := []kafka.SourceOption{kafka.Brokers(addr), kafka.MaxPollRecords(40)}
				if tc.fixed {
					start := map[int32]kgo.Offset{}
					for p := range int32(parts) {
						start[p] = kgo.NewOffset().AtStart()
					}
					base = append(base, kafka.Partitions("ck", start))
				} else {
					base = append(base, kafka.ConsumerGroup(group, "ck"), kafka.Commit(kafka.CommitOnCheckpoint()))
				}
				return kafka.NewSource(decodePlay, append(base, opts...)...)
			}
			pipeline := func(clk *streamtest.Clock, src *kafka.Source[play], sink *countSink) *stream.Pipeline {
				p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(store, time.Second))
				d := kafka.Decode(stream.From(p, src, stream.Name("kafka")))
				stream.To(d.Stream, sink, stream.Name("counts"))
				stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]](), stream.Name("dead"))
				return p
			}

			// Run 1: consume, checkpoint, consume more, die.
			clk := streamtest.NewClock(epoch)
			sink1 := newCountSink()
			p1 := pipeline(clk, source("g1"), sink1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- p1.Run(ctx) }()
			send(300)
			sink1.tl.waitFor(t, "the first records", seqsUpTo(300))
			// A checkpoint is triggered by the clock and taken when the
			// source next hands records on. The clock moves once: a second
			// tick could start another checkpoint that takes in records
			// sent after `before` below and rightly commits them.
			deadline := time.Now().Add(time.Minute)
			clk.Advance(time.Second)
			for saved := false; !saved; {
				require.True(t, time.Now().Before(deadline), "no checkpoint stored")
				send(10)
				select {
				case <-store.saved:
					saved = true
				case <-time.After(100 * time.Millisecond):
				}
			}
			if !tc.fixed {
				eventually(t, "the checkpoint's offsets committed", func() bool { return len(committed(t, cl, "g1", "ck")) > 0 })
			}
			before := seq
			if tc.fail {
				sink1.mu.Lock()
				sink1.failFrom = before
				sink1.mu.Unlock()
			}
			send(200)
			if tc.fail {
				require.ErrorIs(t, <-errc, errInjected)
			} else {
				sink1.tl.waitFor(t, "the records after the checkpoint", seqsUpTo(seq))
				cancel()
				require.ErrorIs(t, <-errc, context.Canceled)
			}
			var commitSum int64
			if !tc.fixed {
				for _, off := range committed(t, cl, "g1", "ck") {
					commitSum += off
				}
				assert.LessOrEqual(t, commitSum, int64(before), "nothing after the checkpoint was committed")
			}

			// Run 2: restore and finish; a new group name, so only the
			// restored positions keep the first records from coming again.
			clk2 := streamtest.NewClock(epoch)
			sink2 := newCountSink()
			p2 := pipeline(clk2, source("g2", kafka.ExitWhenIdle(time.Hour)), sink2)
			errc2 := make(chan error, 1)
			go func() { errc2 <- p2.Run(context.Background()) }()
			sink2.tl.waitFor(t, "every record", seqsUpTo(seq))
			clk2.Advance(time.Hour)
			require.NoError(t, <-errc2)

			counts, restored := sink2.state()
			assert.Positive(t, restored, "the state came from the checkpoint")
			assert.Less(t, restored, seq, "the checkpoint did not hold everything")
			if !tc.fixed {
				assert.Equal(t, commitSum, int64(restored), "the committed offsets are the checkpoint's")
			}
			require.Len(t, counts, seq)
			for s := range seq {
				require.Equal(t, 1, counts[s], "seq %d", s)
			}
		})
	}
}

// TestSnapshotCorruptRestore: damaged source state is an error wrapping
// stream.ErrCorruptCheckpoint, never a panic.
func TestSnapshotCorruptRestore(t *testing.T) {
	t.Parallel()
	src := kafka.NewSource(decodePlay)
	for _, b := range [][]byte{nil, {9}, {1, 5}, {1, 1, 3, 'a'}, {1, 1, 1, 'a', 2, 2, 1, 0}} {
		err := src.Restore(b)
		require.ErrorIs(t, err, stream.ErrCorruptCheckpoint, "%v", b)
	}
	require.NoError(t, src.Restore([]byte{1, 1, 1, 'a', 2, 4, 1}))
}
