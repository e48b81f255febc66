package kafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/streamtest"
)

// completions reports every checkpoint completed (stored and committed).
type completions struct {
	stream.NopMetrics
	done chan int64
}

func newCompletions() *completions { return &completions{done: make(chan int64, 64)} }

func (c *completions) CheckpointCompleted(id int64, _ time.Duration, _ int) { c.done <- id }
func (c *completions) CheckpointFailed(int64)                               {}

// advanceUntilOne moves clk on a second at a time until a checkpoint
// completes. The pending timer that lets it move may be the source's wake
// rather than the checkpoint interval's, which the coordinator arms from
// its own goroutine (at its start, then at each tick): moved before that,
// the clock needs another step.
func (c *completions) advanceUntilOne(t *testing.T, ctx context.Context, clk *streamtest.Clock) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		require.NoError(t, clk.WaitForTimers(ctx, 1), "no checkpoint completed")
		clk.Advance(time.Second)
		select {
		case id := <-c.done:
			return id
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no checkpoint completed")
		}
	}
}

func sumOffsets(m map[int32]int64) int64 {
	var n int64
	for _, off := range m {
		n += off
	}
	return n
}

func sendPlays(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for seq := from; seq < to; seq++ {
		recs = append(recs, playRecord(topic, int32(seq%3), play{User: fmt.Sprintf("u%d", seq%7), Seq: seq, TS: epoch.Add(time.Duration(seq) * time.Millisecond).UnixMilli()}))
	}
	produce(t, cl, recs...)
}

// TestIdleSourceCheckpointsAndCommits: once the topic is quiet, checkpoints
// still complete on schedule (the source is parked in its poll) and the
// group's offsets of everything consumed are committed — no dummy records.
func TestIdleSourceCheckpointsAndCommits(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 3, "idle")
	cl := client(t, addr)
	sendPlays(t, cl, "idle", 0, 90)
	clk := streamtest.NewClock(epoch)
	done := newCompletions()
	dir, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup("gi", "idle"), kafka.Commit(kafka.CommitOnCheckpoint()))
	p := stream.New(stream.WithClock(clk), stream.WithCheckpoints(dir, time.Second), stream.WithMetrics(done))
	sink := newCountSink()
	stream.To(kafka.Decode(stream.From(p, src)).Stream, sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	sink.tl.waitFor(t, "every record", seqsUpTo(90))
	// Nothing more is produced: two checkpoints complete anyway.
	for range 2 {
		done.advanceUntilOne(t, ctx, clk)
	}
	assert.Equal(t, int64(90), sumOffsets(committed(t, cl, "gi", "idle")), "the idle group's offsets are committed")
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
}

// endCount passes plays through and, when event time reaches its end,
// emits the number it saw as seq 1_000_000+n.
type endCount struct{ n int }

const endSeq = 1_000_000

func (o *endCount) ProcessRecord(r stream.Record[play], out stream.Emitter[play]) error {
	o.n++
	return out.Emit(r)
}
func (o *endCount) ProcessWatermark(w stream.Time, out stream.Emitter[play]) error {
	if w == stream.MaxTime {
		return out.Emit(stream.At(play{User: "total", Seq: endSeq + o.n}, w))
	}
	return nil
}
func (o *endCount) Snapshot() ([]byte, error) { return binary.AppendUvarint(nil, uint64(o.n)), nil }
func (o *endCount) Restore(b []byte) error {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return errors.New("bad count")
	}
	o.n = int(v)
	return nil
}

// TestSourceStopTakesASavepoint: Source.Stop stops the pipeline with a
// savepoint — nothing fires, the final checkpoint's offsets are committed —
// and the next run resumes with no duplicate and nothing missing.
func TestSourceStopTakesASavepoint(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 3, "sp")
	cl := client(t, addr)
	dir, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	pipeline := func(src *kafka.Source[play], sink *countSink) *stream.Pipeline {
		p := stream.New(stream.WithCheckpoints(dir, time.Hour))
		d := kafka.Decode(stream.From(p, src, stream.Name("kafka")))
		counted := stream.Apply(d.Stream, func() stream.Operator[play, play] { return &endCount{} }, stream.Name("count"))
		stream.To(counted, sink, stream.Name("counts"))
		return p
	}
	sendPlays(t, cl, "sp", 0, 100)
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup("gs", "sp"), kafka.Commit(kafka.CommitOnCheckpoint()))
	sink := newCountSink()
	p := pipeline(src, sink)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	sink.tl.waitFor(t, "the first records", seqsUpTo(100))
	src.Stop()
	require.NoError(t, <-errc)
	counts, _ := sink.state()
	assert.Len(t, counts, 100, "no total: a stop fires nothing")
	assert.Equal(t, int64(100), sumOffsets(committed(t, cl, "gs", "sp")), "the savepoint's offsets are committed")

	// Resume; the input then ends (ExitWhenIdle) and the total fires once.
	sendPlays(t, cl, "sp", 100, 150)
	clk := streamtest.NewClock(epoch)
	src2 := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup("gs", "sp"),
		kafka.Commit(kafka.CommitOnCheckpoint()), kafka.ExitWhenIdle(time.Minute), kafka.Clock(clk))
	sink2 := newCountSink()
	p2 := pipeline(src2, sink2)
	go func() { errc <- p2.Run(context.Background()) }()
	sink2.tl.waitFor(t, "every record", seqsUpTo(150))
	clk.Advance(time.Minute)
	require.NoError(t, <-errc)
	counts, restored := sink2.state()
	assert.Equal(t, 100, restored)
	for seq := range 150 {
		require.Equal(t, 1, counts[seq], "seq %d", seq)
	}
	assert.Equal(t, 1, counts[endSeq+150], "the total of all 150, once")
	assert.Len(t, counts, 151)
}
