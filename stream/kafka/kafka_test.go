package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/stream/streamtest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func plays(n int) []play {
	out := make([]play, n)
	for i := range out {
		out[i] = play{User: fmt.Sprintf("user-%d", i%7), Seq: i, TS: epoch.Add(time.Duration(i) * time.Millisecond).UnixMilli()}
	}
	return out
}

// consume runs a group source into a tally until the tally holds every seq
// below n, then advances the fake clock past ExitWhenIdle so the source ends
// normally (committing) and the pipeline finishes.
func consumeAll(t *testing.T, addr, group, topic string, n int, opts ...kafka.SourceOption) ([]stream.Record[play], []stream.DeadLetter[kafka.Message[play]]) {
	t.Helper()
	clk := streamtest.NewClock(epoch)
	src := kafka.NewSource(decodePlay, append([]kafka.SourceOption{
		kafka.Brokers(addr), kafka.ConsumerGroup(group, topic), kafka.ExitWhenIdle(time.Hour),
	}, opts...)...)
	p := stream.New(stream.WithClock(clk))
	d := kafka.Decode(stream.From(p, src))
	got := streamtest.NewSink[play]()
	tl := newTally()
	stream.To(stream.Map(d.Stream, func(v play) play { tl.add(v.Seq); return v }), got)
	dead := stream.Collect[stream.DeadLetter[kafka.Message[play]]]()
	stream.To(d.DeadLetters(), dead)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	tl.waitFor(t, "every record", seqsUpTo(n))
	clk.Advance(time.Hour)
	require.NoError(t, <-errc)
	return got.Records(), dead.Values()
}

func TestRoundTripThroughBrookPipelines(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 3, "plays")
	in := plays(2000)

	// Produce with a brook pipeline: keyed by user, event time as timestamp.
	p := stream.New()
	src := stream.From(p, stream.Slice(in), stream.WithTimestamps(play.At))
	stream.To(src, kafka.NewSink("plays", func(v play) ([]byte, error) { return json.Marshal(v) },
		kafka.Brokers(addr), kafka.Key(func(v play) []byte { return []byte(v.User) })))
	require.NoError(t, p.Run(context.Background()))

	// Consume with another: every record once, at its event time, in order
	// per key (one key, one partition).
	got, dead := consumeAll(t, addr, "readers", "plays", len(in), kafka.Commit(kafka.CommitInterval(time.Minute)))
	require.Empty(t, dead)
	require.Len(t, got, len(in))
	last := map[string]int{}
	for _, r := range got {
		assert.Equal(t, in[r.Value.Seq], r.Value)
		assert.Equal(t, stream.TimeOf(r.Value.At()), r.Time, "event time from the Kafka timestamp")
		if prev, ok := last[r.Value.User]; ok {
			require.Greater(t, r.Value.Seq, prev, "order within key %s", r.Value.User)
		}
		last[r.Value.User] = r.Value.Seq
	}

	// The normal end committed everything (the interval policy commits on
	// stop even within its interval).
	cl := client(t, addr)
	var sum int64
	for _, off := range committed(t, cl, "readers", "plays") {
		sum += off
	}
	assert.Equal(t, int64(len(in)), sum)

	// Keys landed on one partition each.
	parts := map[string]map[int32]bool{}
	cons := client(t, addr, kgo.ConsumeTopics("plays"))
	for n := 0; n < len(in); {
		f := cons.PollFetches(context.Background())
		require.NoError(t, f.Err0())
		f.EachRecord(func(r *kgo.Record) {
			n++
			if parts[string(r.Key)] == nil {
				parts[string(r.Key)] = map[int32]bool{}
			}
			parts[string(r.Key)][r.Partition] = true
		})
	}
	for k, ps := range parts {
		assert.Len(t, ps, 1, "key %s", k)
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "mixed")
	cl := client(t, addr)
	good := playRecord("mixed", 0, play{User: "a", Seq: 0, TS: epoch.UnixMilli()})
	produce(t, cl, good,
		&kgo.Record{Topic: "mixed", Value: []byte("not json"), Timestamp: epoch},
		&kgo.Record{Topic: "mixed", Value: []byte(`{"seq":9}`), Timestamp: epoch},
		playRecord("mixed", 0, play{User: "b", Seq: 1, TS: epoch.UnixMilli()}))

	got, dead := consumeAll(t, addr, "g", "mixed", 2)
	require.Len(t, got, 2)
	require.Len(t, dead, 2)
	for i, d := range dead {
		var de *kafka.DecodeError
		require.ErrorAs(t, d.Err, &de)
		assert.Equal(t, "mixed", de.Topic)
		assert.Equal(t, int64(i+1), de.Offset)
		assert.Equal(t, "kafka.decode", d.Operator)
		require.NotNil(t, d.Record.Value.Record, "the raw record travels with the dead letter")
	}
	assert.Equal(t, "not json", string(dead[0].Record.Value.Record.Value))
	assert.EqualError(t, errors.Unwrap(dead[1].Err), "missing user")

	t.Run("no dead-letter consumer fails the run", func(t *testing.T) {
		p := stream.New()
		d := kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, kafka.Brokers(addr),
			kafka.Partitions("mixed", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()}))))
		stream.To(d.Stream, stream.Discard[play]())
		err := p.Run(context.Background())
		require.ErrorIs(t, err, stream.ErrNotConnected)
		assert.Contains(t, err.Error(), "mixed/0@1")
	})
}

// TestPartitionWatermarkMin: the emitted watermark is the minimum over the
// owned partitions' bounded-out-of-orderness watermarks; an idle partition
// stops holding it back and rejoins with its next record.
func TestPartitionWatermarkMin(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 2, "wm")
	cl := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	sec := func(s int64) play {
		return play{User: "u", Seq: int(s), TS: epoch.Add(time.Duration(s) * time.Second).UnixMilli()}
	}
	at := func(s int64) stream.Time { return stream.TimeOf(epoch.Add(time.Duration(s) * time.Second)) }
	produce(t, cl, playRecord("wm", 0, sec(10)), playRecord("wm", 0, sec(30)), playRecord("wm", 0, sec(20)),
		playRecord("wm", 1, sec(100)), playRecord("wm", 1, sec(200)))

	clk := streamtest.NewClock(epoch)
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr),
		kafka.Partitions("wm", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}),
		kafka.OutOfOrderness(15*time.Second), kafka.IdleTimeout(time.Minute))
	p := stream.New(stream.WithClock(clk))
	d := kafka.Decode(stream.From(p, src))
	sink := streamtest.NewSink[play]()
	stream.To(d.Stream, sink)
	stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()

	hasWatermark := func(w stream.Time) func() bool {
		return func() bool { return slices.Contains(sink.Watermarks(), w) }
	}
	// Partition 0's max is 30s: min(30s, 200s) - 15s - 1ns.
	eventually(t, "watermark 15s", hasWatermark(at(15)-1))
	require.Len(t, sink.Records(), 5)
	for _, w := range sink.Watermarks() {
		assert.LessOrEqual(t, w, at(15)-1, "no watermark passes the slow partition")
	}

	// Both partitions go idle; then partition 1 speaks and alone sets the
	// watermark.
	require.NoError(t, clk.WaitForTimers(ctx, 1))
	clk.Advance(time.Minute)
	produce(t, cl, playRecord("wm", 1, sec(300)))
	eventually(t, "watermark 285s", hasWatermark(at(285)-1))

	// Partition 0 rejoins with an old record: it is delivered (late for
	// downstream windows), and the watermark does not go back.
	produce(t, cl, playRecord("wm", 0, sec(40)))
	eventually(t, "the late record", func() bool { return len(sink.Records()) == 7 })
	wms := sink.Watermarks()
	assert.True(t, slices.IsSorted(wms), "watermarks never go back: %v", wms)
	assert.Equal(t, at(285)-1, wms[len(wms)-1])

	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	assert.Nil(t, src.Assigned(), "a stopped source owns nothing")
}

// groupMember runs one consumer-group pipeline feeding tl.
type groupMember struct {
	src    *kafka.Source[play]
	cancel context.CancelFunc
	errc   chan error
}

func startMember(t *testing.T, addr, group, topic string, tl *tally) *groupMember {
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup(group, topic),
		kafka.Commit(kafka.CommitInterval(0)), kafka.MaxPollRecords(50),
		kafka.ClientOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
	p := stream.New()
	d := kafka.Decode(stream.From(p, src))
	stream.To(d.Stream, stream.SinkFunc[play](func(_ context.Context, r stream.Record[play]) error {
		tl.add(r.Value.Seq)
		return nil
	}))
	stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{src: src, cancel: cancel, errc: make(chan error, 1)}
	go func() { m.errc <- p.Run(ctx) }()
	return m
}

func (m *groupMember) stop(t *testing.T) {
	m.cancel()
	require.ErrorIs(t, <-m.errc, context.Canceled)
}

func owned(m *groupMember) int {
	n := 0
	for _, ps := range m.src.Assigned() {
		n += len(ps)
	}
	return n
}

// TestRebalanceLosesNothing: a second member joins mid-stream and takes
// partitions over, then the first leaves and the second takes everything;
// every record is consumed at least once.
func TestRebalanceLosesNothing(t *testing.T) {
	t.Parallel()
	const partitions, perPhase = 4, 1000
	_, addr := cluster(t, partitions, "rb")
	cl := client(t, addr)
	all := plays(3 * perPhase)
	send := func(from, to int) {
		recs := make([]*kgo.Record, 0, to-from)
		for _, p := range all[from:to] {
			recs = append(recs, playRecord("rb", 0, p))
		}
		produce(t, cl, recs...)
	}
	tl := newTally()

	send(0, perPhase)
	a := startMember(t, addr, "g", "rb", tl)
	tl.waitFor(t, "phase 1", seqsUpTo(perPhase))
	eventually(t, "a owns all", func() bool { return owned(a) == partitions })

	b := startMember(t, addr, "g", "rb", tl)
	eventually(t, "a and b share", func() bool { return owned(a)+owned(b) == partitions && owned(a) > 0 && owned(b) > 0 })
	send(perPhase, 2*perPhase)
	tl.waitFor(t, "phase 2", seqsUpTo(2*perPhase))

	a.stop(t)
	eventually(t, "b owns all", func() bool { return owned(b) == partitions })
	send(2*perPhase, 3*perPhase)
	tl.waitFor(t, "phase 3", seqsUpTo(3*perPhase))
	b.stop(t)

	counts, total := tl.snapshot()
	dups := total - len(all)
	t.Logf("%d records, %d deliveries, %d duplicates", len(all), total, dups)
	for i := range all {
		require.GreaterOrEqual(t, counts[i], 1, "record %d lost", i)
	}
	// Positions are committed after every poll and on revoke, so only a poll
	// cut short by a cancellation can come again.
	assert.LessOrEqual(t, dups, 50*partitions)
}

func TestCommitFailureFailsTheRun(t *testing.T) {
	t.Parallel()
	c, addr := cluster(t, 1, "cf")
	produce(t, client(t, addr), playRecord("cf", 0, play{User: "a", TS: epoch.UnixMilli()}))
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	p := stream.New()
	d := kafka.Decode(stream.From(p, kafka.NewSource(decodePlay, kafka.Brokers(addr),
		kafka.ConsumerGroup("g", "cf"), kafka.Commit(kafka.CommitInterval(0)))))
	stream.To(d.Stream, stream.Discard[play]())
	stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
	err := p.Run(context.Background())
	require.ErrorIs(t, err, kafka.ErrCommit)
	require.ErrorIs(t, err, kerr.GroupAuthorizationFailed)
}

func TestSourceMisconfigured(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  *kafka.Source[play]
	}{
		{"no brokers", kafka.NewSource(decodePlay, kafka.ConsumerGroup("g", "t"))},
		{"no group or partitions", kafka.NewSource(decodePlay, kafka.Brokers("127.0.0.1:1"))},
		{"both group and partitions", kafka.NewSource(decodePlay, kafka.Brokers("127.0.0.1:1"),
			kafka.ConsumerGroup("g", "t"), kafka.Partitions("t", map[int32]kgo.Offset{0: kgo.NewOffset()}))},
		{"group without topics", kafka.NewSource(decodePlay, kafka.Brokers("127.0.0.1:1"), kafka.ConsumerGroup("g"))},
		{"event time of another type", kafka.NewSource(decodePlay, kafka.Brokers("127.0.0.1:1"), kafka.ConsumerGroup("g", "t"),
			kafka.EventTime(func(int) time.Time { return time.Time{} }))},
		{"nil decoder", kafka.NewSource[play](nil, kafka.Brokers("127.0.0.1:1"), kafka.ConsumerGroup("g", "t"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := stream.New()
			stream.To(stream.From(p, c.src), stream.Discard[kafka.Message[play]]())
			require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
		})
	}
}

func TestEventTimeFromPayload(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "et")
	cl := client(t, addr)
	v := play{User: "a", TS: epoch.Add(time.Hour).UnixMilli()}
	rec := playRecord("et", 0, v)
	rec.Timestamp = epoch // the Kafka timestamp says otherwise
	produce(t, cl, rec)
	got, _ := consumeAll(t, addr, "g", "et", 1, kafka.EventTime(play.At))
	require.Len(t, got, 1)
	assert.Equal(t, stream.TimeOf(epoch.Add(time.Hour)), got[0].Time)
}

func TestSinkErrorsAreReturned(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "out")
	enc := func(v play) ([]byte, error) { return json.Marshal(v) }
	run := func(sink stream.Sink[play], n int) error {
		t.Helper()
		p := stream.New()
		stream.To(stream.From(p, stream.Slice(plays(n))), sink, stream.Name("to-kafka"))
		return p.Run(context.Background())
	}

	t.Run("broker refuses the records", func(t *testing.T) {
		c, addr := cluster(t, 1, "out")
		c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			r := req.(*kmsg.ProduceRequest)
			resp := r.ResponseKind().(*kmsg.ProduceResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic, st.TopicID = rt.Topic, rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition = rp.Partition
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		})
		err := run(kafka.NewSink("out", enc, kafka.Brokers(addr)), 100)
		require.ErrorIs(t, err, kafka.ErrProduce)
		require.ErrorIs(t, err, kerr.TopicAuthorizationFailed)
		assert.Contains(t, err.Error(), "to-kafka")
		assert.Contains(t, err.Error(), "100 records not produced")
	})
	t.Run("record too large", func(t *testing.T) {
		big := func(v play) ([]byte, error) { return bytes.Repeat([]byte("x"), 4096), nil }
		err := run(kafka.NewSink("out", big, kafka.Brokers(addr), kafka.ClientOptions(kgo.ProducerBatchMaxBytes(1024))), 3)
		require.ErrorIs(t, err, kafka.ErrProduce)
		require.ErrorIs(t, err, kerr.MessageTooLarge)
	})
	t.Run("encoder error", func(t *testing.T) {
		boom := errors.New("cannot encode")
		err := run(kafka.NewSink("out", func(play) ([]byte, error) { return nil, boom }, kafka.Brokers(addr)), 3)
		require.ErrorIs(t, err, boom)
	})
	t.Run("misconfigured", func(t *testing.T) {
		require.ErrorIs(t, run(kafka.NewSink("out", enc), 1), stream.ErrInvalid)
		require.ErrorIs(t, run(kafka.NewSink("", enc, kafka.Brokers(addr)), 1), stream.ErrInvalid)
		require.ErrorIs(t, run(kafka.NewSink("out", enc, kafka.Brokers(addr), kafka.Key(func(int) []byte { return nil })), 1), stream.ErrInvalid)
	})
	t.Run("shared client is not closed", func(t *testing.T) {
		cl := client(t, addr)
		require.NoError(t, run(kafka.NewSink("out", enc, kafka.Client(cl), kafka.ProduceTime()), 10))
		require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: "out", Value: []byte("{}")}).FirstErr())
	})
}

// TestKcatReadsWhatBrookWrote: a third-party client (librdkafka's kcat)
// consumes the brook sink's records.
func TestKcatReadsWhatBrookWrote(t *testing.T) {
	t.Parallel()
	bin := kcat(t)
	_, addr := cluster(t, 2, "to-kcat")
	in := plays(300)
	p := stream.New()
	stream.To(stream.From(p, stream.Slice(in), stream.WithTimestamps(play.At)),
		kafka.NewSink("to-kcat", func(v play) ([]byte, error) { return json.Marshal(v) },
			kafka.Brokers(addr), kafka.Key(func(v play) []byte { return []byte(v.User) })))
	require.NoError(t, p.Run(context.Background()))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-q", "-b", addr, "-C", "-t", "to-kcat", "-o", "beginning", "-e",
		"-f", "%k\t%T\t%s\n").Output()
	require.NoError(t, err)
	seen := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		require.Len(t, parts, 3, "line %q", sc.Text())
		var v play
		require.NoError(t, json.Unmarshal([]byte(parts[2]), &v))
		assert.Equal(t, v.User, parts[0], "key")
		assert.Equal(t, fmt.Sprint(v.TS), parts[1], "timestamp = event time in ms")
		assert.Equal(t, in[v.Seq], v)
		seen[v.Seq] = true
	}
	assert.Len(t, seen, len(in))
}

// TestBrookReadsWhatKcatWrote: kcat produces (one bad line among them) and
// the brook source consumes.
func TestBrookReadsWhatKcatWrote(t *testing.T) {
	t.Parallel()
	bin := kcat(t)
	_, addr := cluster(t, 3, "from-kcat")
	var lines strings.Builder
	in := plays(200)
	for _, v := range in {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&lines, "%s:%s\n", v.User, b)
	}
	lines.WriteString("bad:{oops\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-q", "-b", addr, "-P", "-t", "from-kcat", "-K", ":")
	cmd.Stdin = strings.NewReader(lines.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	got, dead := consumeAll(t, addr, "g", "from-kcat", len(in))
	require.Len(t, got, len(in))
	require.Len(t, dead, 1)
	assert.Equal(t, "bad", string(dead[0].Record.Value.Record.Key))
	for _, r := range got {
		assert.Equal(t, in[r.Value.Seq], r.Value)
	}
}

// TestStopCommitsAndNextMemberResumes: Stop ends a member normally (its
// sink sees the end of input) after committing; a later member of the group
// resumes exactly after it.
func TestStopCommitsAndNextMemberResumes(t *testing.T) {
	t.Parallel()
	const n, m = 500, 300
	_, addr := cluster(t, 3, "resume")
	cl := client(t, addr)
	all := plays(n + m)
	send := func(ps []play) {
		recs := make([]*kgo.Record, len(ps))
		for i, p := range ps {
			recs[i] = playRecord("resume", 0, p)
		}
		produce(t, cl, recs...)
	}
	member := func(tl *tally) (*kafka.Source[play], *streamtest.Sink[play], chan error) {
		src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup("g", "resume"),
			kafka.Commit(kafka.CommitPolicyFunc(func(_ time.Time, r kafka.CommitReason, handed kafka.Offsets) kafka.Offsets {
				if r == kafka.Stopped {
					return handed // only the stop commits
				}
				return nil
			})))
		p := stream.New()
		d := kafka.Decode(stream.From(p, src))
		sink := streamtest.NewSink[play]()
		stream.To(stream.Map(d.Stream, func(v play) play { tl.add(v.Seq); return v }), sink)
		stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[play]]]())
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		return src, sink, errc
	}

	send(all[:n])
	first := newTally()
	src, sink, errc := member(first)
	first.waitFor(t, "the first batch", seqsUpTo(n))
	src.Stop()
	require.NoError(t, <-errc)
	assert.True(t, sink.Ended(), "a stopped source ends the input normally")
	var sum int64
	for _, off := range committed(t, cl, "g", "resume") {
		sum += off
	}
	require.Equal(t, int64(n), sum, "stop committed everything handed")

	send(all[n:])
	second := newTally()
	src, _, errc = member(second)
	second.waitFor(t, "the second batch", func(c map[int]int, _ int) bool {
		for i := n; i < n+m; i++ {
			if c[i] == 0 {
				return false
			}
		}
		return true
	})
	src.Stop()
	require.NoError(t, <-errc)
	counts, total := second.snapshot()
	assert.Equal(t, m, total, "no record delivered twice, none from before the commit")
	for seq := range counts {
		assert.GreaterOrEqual(t, seq, n)
	}
}

// A source whose first partition starts at its end and whose others start
// at a listed offset (AtStart) reads the others before it ends idle: the
// client fetches the first one alone while it lists the others' offsets,
// and the broker holds that fetch (up to FetchMaxWait, 5s by default) for
// want of records. The source keeps that wait under its ExitWhenIdle.
// This was the defect behind restored runs of TestTransactionalSinkSurvivesKills
// that read no input: a checkpoint named only a finished partition.
func TestExitWhenIdleWaitsOutAFetchOfACaughtUpPartition(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 3, "behind")
	var recs []*kgo.Record
	for seq := range 300 {
		recs = append(recs, playRecord("behind", int32(seq%3), play{User: "u", Seq: seq, TS: epoch.UnixMilli()}))
	}
	produce(t, client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	p := stream.New()
	// 3 s: under the 5 s default wait, with room for a loaded machine.
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ExitWhenIdle(3*time.Second),
		kafka.Partitions("behind", map[int32]kgo.Offset{
			0: kgo.NewOffset().At(100), // its end
			1: kgo.NewOffset().AtStart(),
			2: kgo.NewOffset().AtStart(),
		}))
	out := stream.Collect[play]()
	stream.To(kafka.Decode(stream.From(p, src)).Stream, out)
	require.NoError(t, p.Run(context.Background()))
	assert.Len(t, out.Values(), 200, "partitions 1 and 2, read before the idle exit")
}
