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
