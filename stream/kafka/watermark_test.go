package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/window"
)

// The upstream job of these tests: plays out of order (jitter within the
// bound, some far behind, so late), watermarks by bounded out-of-orderness,
// written with CarryWatermarks. The downstream job: per-user counts in
// tumbling windows with allowed lateness, and the late plays.
const (
	wmBound    = 2 * time.Second
	wmWindow   = 10 * time.Second
	wmLateness = time.Second
)

func carriedInput(n int, seed uint64) []play {
	rng := rand.New(rand.NewPCG(seed, 7))
	users := []string{"ann", "bob", "cid", "dan", "eve", "fay", "gus"}
	out := make([]play, n)
	for i := range out {
		ts := int64(1_000_000 + i*97)
		switch {
		case i%23 == 0:
			ts -= 25_000 // behind every bound: late
		default:
			ts += rng.Int64N(2*wmBound.Milliseconds()) - wmBound.Milliseconds()/2
		}
		out[i] = play{User: users[rng.IntN(len(users))], Seq: i, TS: ts}
	}
	return out
}

// bruteForce is the single-process answer, by a plain loop: the watermark
// in force before each play (over the plays before it), and from it the
// late plays and every window's final count.
func bruteForce(in []play) (stamps []stream.Time, counts map[string]int64, late map[int]bool) {
	counts, late = map[string]int64{}, map[int]bool{}
	w, maxSeen := stream.MinTime, stream.MinTime
	size := wmWindow.Milliseconds()
	for _, p := range in {
		stamps = append(stamps, w)
		start := p.TS - ((p.TS%size)+size)%size
		closeAt := stream.TimeOf(time.UnixMilli(start + size)).Add(-1 + wmLateness)
		if w >= closeAt {
			late[p.Seq] = true
		} else {
			counts[fmt.Sprintf("%s@%d", p.User, start)]++
		}
		if t := stream.TimeOf(p.At()); t > maxSeen {
			maxSeen = t
			w = t.Add(-wmBound - 1)
		}
	}
	return stamps, counts, late
}

// writeCarried runs the upstream job into topic.
func writeCarried(t *testing.T, addr, topic string, in []play, opts ...kafka.SinkOption) {
	t.Helper()
	p := stream.New()
	src := stream.From(p, stream.Slice(in), stream.WithTimestamps(play.At),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[play](wmBound)))
	stream.To(src, kafka.NewSink(topic, func(v play) ([]byte, error) { return json.Marshal(v) },
		append([]kafka.SinkOption{kafka.Brokers(addr), kafka.CarryWatermarks(),
			kafka.Key(func(v play) []byte { return []byte(v.User) })}, opts...)...))
	require.NoError(t, p.Run(context.Background()))
}

// windowAnswer collects a downstream job's output from any number of
// pipelines: the latest count of each window (a task restored from a
// checkpoint may fire a window again) and the late plays.
type windowAnswer struct {
	mu     sync.Mutex
	counts map[string]int64
	late   map[int]bool
	dead   int
}

func newWindowAnswer() *windowAnswer {
	return &windowAnswer{counts: map[string]int64{}, late: map[int]bool{}}
}

// build adds the downstream job to a pipeline reading msgs.
func (a *windowAnswer) build(msgs stream.Stream[kafka.Message[play]]) {
	dec := kafka.Decode(msgs)
	stream.To(dec.DeadLetters(), stream.SinkFunc[stream.DeadLetter[kafka.Message[play]]](func(context.Context, stream.Record[stream.DeadLetter[kafka.Message[play]]]) error {
		a.mu.Lock()
		a.dead++
		a.mu.Unlock()
		return nil
	}))
	win := window.Aggregate(stream.KeyBy(dec.Stream, func(p play) string { return p.User }),
		window.Tumbling(wmWindow), window.Count[play](), window.AllowedLateness(wmLateness), stream.Name("counts"))
	stream.To(win.Results(), stream.SinkFunc[window.Result[string, int64]](func(_ context.Context, r stream.Record[window.Result[string, int64]]) error {
		a.mu.Lock()
		a.counts[fmt.Sprintf("%s@%d", r.Value.Key, r.Value.Start.Std().UnixMilli())] = r.Value.Value
		a.mu.Unlock()
		return nil
	}))
	stream.To(win.Late(), stream.SinkFunc[window.LateRecord[play]](func(_ context.Context, r stream.Record[window.LateRecord[play]]) error {
		a.mu.Lock()
		a.late[r.Value.Record.Value.Seq] = true
		a.mu.Unlock()
		return nil
	}))
}

// TestCarryWatermarksSinkStamps: each record carries the watermark in
// force before it in the upstream job (the brute-force one), and each
// partition ends with a watermark-only record of the final watermark.
func TestCarryWatermarksSinkStamps(t *testing.T) {
	t.Parallel()
	const parts = 3
	_, addr := cluster(t, parts, "stamps")
	in := carriedInput(600, 1)
	stamps, _, _ := bruteForce(in)
	writeCarried(t, addr, "stamps", in)

	cons := client(t, addr, kgo.ConsumeTopics("stamps"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen, ends := 0, map[int32]int{}
	last := map[int32]bool{} // the partition's last record is the final watermark
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for seen < len(in) || len(ends) < parts {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "records missing: %d of %d, %d final watermarks", seen, len(in), len(ends))
		fs.EachRecord(func(r *kgo.Record) {
			var wm []string
			only := false
			for _, h := range r.Headers {
				switch h.Key {
				case kafka.WatermarkHeader:
					wm = append(wm, string(h.Value))
				case kafka.WatermarkOnlyHeader:
					only = true
				}
			}
			require.Len(t, wm, 1, "one watermark header per record")
			if only {
				assert.Equal(t, strconv.FormatInt(int64(stream.MaxTime), 10), wm[0])
				assert.Empty(t, r.Value)
				assert.Nil(t, r.Key)
				ends[r.Partition]++
				last[r.Partition] = true
				return
			}
			last[r.Partition] = false
			got, err := decodePlay(r)
			require.NoError(t, err)
			assert.Equal(t, strconv.FormatInt(int64(stamps[got.Seq]), 10), wm[0], "play %d", got.Seq)
			seen++
		})
	}
	for p := range int32(parts) {
		assert.Equal(t, 1, ends[p], "partition %d: one final watermark", p)
		assert.True(t, last[p], "partition %d: the final watermark comes last", p)
	}
}

// TestCarryWatermarksSameAnswerAnyDeployment: the downstream job gives the
// single-process answer (the brute force's late plays and window counts)
// whether one source reads one partition, one group member runs a task per
// partition of four, or two members share four or three partitions and
// interleave as they like.
func TestCarryWatermarksSameAnswerAnyDeployment(t *testing.T) {
	t.Parallel()
	in := carriedInput(1500, 2)
	_, wantCounts, wantLate := bruteForce(in)
	require.NotEmpty(t, wantLate, "the input has late plays")
	require.Greater(t, len(wantLate), len(in)/23/2, "late plays beyond the far-behind ones are possible, not required")

	t.Run("one partition, one source", func(t *testing.T) {
		t.Parallel()
		_, addr := cluster(t, 1, "one")
		writeCarried(t, addr, "one", in)
		a := newWindowAnswer()
		p := stream.New()
		a.build(stream.From(p, kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.CarryWatermarks(),
			kafka.Partitions("one", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()}),
			kafka.ExitWhenIdle(time.Second))))
		require.NoError(t, p.Run(context.Background()))
		assert.Equal(t, wantCounts, a.counts)
		assert.Equal(t, wantLate, a.late)
		assert.Zero(t, a.dead)
	})
	for _, tc := range []struct {
		name           string
		parts, members int32
	}{
		{"four partitions, one member", 4, 1},
		{"four partitions, two members", 4, 2},
		{"three partitions, two members", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := cluster(t, tc.parts, "plays")
			writeCarried(t, addr, "plays", in)
			store, err := kafka.NewDirTaskStore(t.TempDir(), 2)
			require.NoError(t, err)
			a := newWindowAnswer()
			var wg sync.WaitGroup
			errs := make([]error, tc.members)
			for i := range tc.members {
				g := kafka.NewGroup("wm", "plays", decodePlay, store, func(tk *kafka.Task[play]) error {
					a.build(tk.Input)
					return nil
				},
					kafka.SourceOptions(kafka.Brokers(addr), kafka.CarryWatermarks(), kafka.MaxPollRecords(37)),
					kafka.GroupClientOptions(kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(100*time.Millisecond)),
					kafka.CheckpointInterval(50*time.Millisecond),
					kafka.CoPartitioned(func(p play) []byte { return []byte(p.User) }),
					kafka.ExitWhenDone(300*time.Millisecond))
				wg.Go(func() { errs[i] = g.Run(context.Background()) })
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			assert.Equal(t, wantCounts, a.counts)
			assert.Equal(t, wantLate, a.late)
			assert.Zero(t, a.dead)
		})
	}
}

// TestCarryWatermarksSource: per partition the watermark is the largest
// header read (a lower one does not move it back); the source emits the
// minimum over its partitions before the record that raises it; a record
// without a valid header is a dead letter and moves nothing; a
// watermark-only record is no Message.
func TestCarryWatermarksSource(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "raw"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	rec := func(part int32, seq int, hdrs ...kgo.RecordHeader) *kgo.Record {
		r := playRecord("raw", part, play{User: "u", Seq: seq, TS: 5})
		r.Headers = hdrs
		return r
	}
	wm := func(w int64) kgo.RecordHeader {
		return kgo.RecordHeader{Key: kafka.WatermarkHeader, Value: []byte(strconv.FormatInt(w, 10))}
	}
	pc := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// Partition 1 first, so that partition 0's records are read after it.
	produce(t, pc, rec(1, 100, wm(500)), rec(1, 101, wm(900)))
	produce(t, pc,
		rec(0, 0, wm(100)),
		rec(0, 1, wm(700)),
		rec(0, 2, wm(300)), // lower: stays 700
		rec(0, 3),          // no header: dead letter
		rec(0, 4, kgo.RecordHeader{Key: kafka.WatermarkHeader, Value: []byte("12x")}), // invalid: dead letter
		&kgo.Record{Topic: "raw", Partition: 0, Headers: []kgo.RecordHeader{wm(1000), {Key: kafka.WatermarkOnlyHeader}}},
		rec(0, 5, wm(1000)),
	)

	for _, tc := range []struct {
		name  string
		parts map[int32]kgo.Offset
		// before is the last watermark before each good record, by seq.
		before map[int]stream.Time
	}{
		{"one partition", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()},
			map[int]stream.Time{0: 100, 1: 700, 2: 700, 5: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stream.New()
			dec := kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.CarryWatermarks(),
				kafka.Partitions("raw", tc.parts), kafka.ExitWhenIdle(time.Second))))
			var mu sync.Mutex
			var dead []error
			stream.To(dec.DeadLetters(), stream.SinkFunc[stream.DeadLetter[kafka.Message[play]]](func(_ context.Context, r stream.Record[stream.DeadLetter[kafka.Message[play]]]) error {
				mu.Lock()
				dead = append(dead, r.Value.Err)
				mu.Unlock()
				return nil
			}))
			sink := &watermarkLog{}
			stream.To(dec.Stream, sink)
			require.NoError(t, p.Run(context.Background()))
			assert.Equal(t, tc.before, sink.before)
			require.Len(t, dead, 2)
			for _, err := range dead {
				assert.ErrorIs(t, err, kafka.ErrNoWatermark)
			}
		})
	}

	// Two partitions: the minimum. Partition 1 (500, then 900) is read
	// first; partition 0's records then hold the minimum at theirs.
	p := stream.New()
	dec := kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.CarryWatermarks(),
		kafka.Partitions("raw", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}),
		kafka.IdleTimeout(0), kafka.ExitWhenIdle(time.Second))))
	stream.To(dec.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
	sink := &watermarkLog{}
	stream.To(dec.Stream, sink)
	require.NoError(t, p.Run(context.Background()))
	// Before each play, at most its own partition's watermark so far (the
	// minimum over both); partition 1 never gets past 900, so neither
	// does the source until the end.
	ownSoFar := map[int]stream.Time{0: 100, 1: 700, 2: 700, 5: 1000, 100: 500, 101: 900}
	require.Len(t, sink.before, len(ownSoFar))
	for seq, w := range sink.before {
		assert.LessOrEqual(t, w, ownSoFar[seq], "play %d", seq)
	}
	assert.Equal(t, stream.Time(900), sink.max, "the minimum of the two partitions, not partition 0's 1000")
}

// watermarkLog records, for each play, the last watermark before it.
type watermarkLog struct {
	wm     stream.Time
	max    stream.Time
	before map[int]stream.Time
}

func (l *watermarkLog) Write(_ context.Context, r stream.Record[play]) error {
	if l.before == nil {
		l.before = map[int]stream.Time{}
	}
	l.before[r.Value.Seq] = l.wm
	return nil
}

func (l *watermarkLog) WriteWatermark(_ context.Context, w stream.Time) error {
	l.wm = w
	if w != stream.MaxTime && w > l.max {
		l.max = w
	}
	return nil
}

// TestCarryWatermarksOptions: Client does not go with CarryWatermarks on a
// sink (the sink must place the records itself).
func TestCarryWatermarksOptions(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "opts")
	p := stream.New()
	stream.To(stream.From(p, stream.Slice([]play{{User: "a"}})), kafka.NewSink("opts", func(v play) ([]byte, error) { return json.Marshal(v) },
		kafka.Client(client(t, addr)), kafka.CarryWatermarks()))
	require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}
