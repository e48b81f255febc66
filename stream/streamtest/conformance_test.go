package streamtest_test

import (
	"slices"
	"testing"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestBuiltInSourcesConform(t *testing.T) {
	vals := []int{1, 2, 3, 4, 5}
	streamtest.TestSource(t, streamtest.SourceTest[int]{New: func() stream.Source[int] { return stream.Slice(vals) }, Bounded: true, MinRecords: 5})
	streamtest.TestSource(t, streamtest.SourceTest[int]{New: func() stream.Source[int] {
		return stream.Records([]stream.Record[int]{{Time: 1, Value: 1}, {Time: 2, Value: 2}})
	}, Bounded: true, MinRecords: 2})
	streamtest.TestSource(t, streamtest.SourceTest[int]{New: func() stream.Source[int] { return stream.Seq(slices.Values(vals)) }, Bounded: true, MinRecords: 5})
	streamtest.TestSource(t, streamtest.SourceTest[int64]{New: func() stream.Source[int64] {
		return stream.Generate(-1, func(i int64) stream.Record[int64] { return stream.At(i, stream.Time(i)) })
	}, MinRecords: 10})
	// A channel source that gets one record and then waits forever.
	streamtest.TestSource(t, streamtest.SourceTest[int]{New: func() stream.Source[int] {
		ch := make(chan int, 1)
		ch <- 7
		return stream.Chan(ch)
	}, MinRecords: 1})
	streamtest.TestSource(t, streamtest.SourceTest[string]{New: func() stream.Source[string] {
		return streamtest.NewScript(streamtest.Rec("a", 1), streamtest.Watermark[string](1), streamtest.Rec("b", 2))
	}, Bounded: true, MinRecords: 2})
}
