package streamtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestScriptAndSinkKeepOrder(t *testing.T) {
	p := stream.New()
	src := streamtest.NewScript(
		streamtest.Rec("a", 10), streamtest.Watermark[string](5),
		streamtest.Rec("b", 7), streamtest.Watermark[string](9), streamtest.Watermark[string](8),
		streamtest.Rec("c", 12))
	sink := streamtest.NewSink[string]()
	stream.To(stream.From(p, src), sink)
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []string{"a", "b", "c"}, sink.Values())
	assert.Equal(t, []stream.Time{5, 9, stream.MaxTime}, sink.Watermarks(), "a lower watermark (8) is dropped")
	assert.Equal(t, []stream.Time{stream.MinTime, 5, 9}, sink.WatermarkBefore())
	assert.True(t, sink.Ended())
}

func TestClockRunsDueCallbacksInOrder(t *testing.T) {
	clk := streamtest.NewClock(time.Unix(100, 0))
	var got []int
	clk.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	clk.AfterFunc(time.Second, func() { got = append(got, 1) })
	stop := clk.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	assert.True(t, stop())
	assert.Equal(t, 2, clk.Pending())
	clk.Advance(time.Second)
	assert.Equal(t, []int{1}, got)
	clk.Advance(5 * time.Second)
	assert.Equal(t, []int{1, 3}, got)
	assert.Equal(t, time.Unix(106, 0), clk.Now())
	assert.Equal(t, 0, clk.Pending())
}

func TestReplayResumesFromItsSnapshot(t *testing.T) {
	recs := []stream.Record[int]{{Time: 1, Value: 1}, {Time: 2, Value: 2}, {Time: 3, Value: 3}}
	src := streamtest.NewReplay(recs)
	require.NoError(t, src.Restore(mustSnapshot(t, &streamtest.Replay[int]{})))
	require.Error(t, src.Restore([]byte{0xff}), "garbage is refused")
	require.Error(t, src.Restore(mustSnapshotAfter(t, append(recs, recs...))), "a position past the end is refused")

	// Emit two records, snapshot, and resume a new run from there.
	p := stream.New()
	first := streamtest.NewSink[int]()
	stream.To(stream.From(p, streamtest.NewReplay(recs[:2])), first)
	require.NoError(t, p.Run(context.Background()))
	pos := mustSnapshotAfter(t, recs[:2])
	resumed := streamtest.NewReplay(recs)
	require.NoError(t, resumed.Restore(pos))
	p2 := stream.New()
	rest := streamtest.NewSink[int]()
	stream.To(stream.From(p2, resumed), rest)
	require.NoError(t, p2.Run(context.Background()))
	assert.Equal(t, []int{1, 2}, first.Values())
	assert.Equal(t, []int{3}, rest.Values())
}

func mustSnapshot(t *testing.T, s stream.Snapshotter) []byte {
	t.Helper()
	b, err := s.Snapshot()
	require.NoError(t, err)
	return b
}

// mustSnapshotAfter returns the position of a Replay that has emitted recs.
func mustSnapshotAfter[T any](t *testing.T, recs []stream.Record[T]) []byte {
	t.Helper()
	r := streamtest.NewReplay(recs)
	p := stream.New()
	stream.To(stream.From(p, r), stream.Discard[T]())
	require.NoError(t, p.Run(context.Background()))
	return mustSnapshot(t, r)
}
