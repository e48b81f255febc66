package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ints(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func TestMapFilterChain(t *testing.T) {
	t.Parallel()
	p := stream.New()
	s := stream.From(p, stream.Slice(ints(1000)))
	s = stream.Map(s, func(x int64) int64 { return x * 2 })
	s = stream.Filter(s, func(x int64) bool { return x%3 != 0 })
	sink := stream.Collect[int64]()
	stream.To(s, sink)
	require.NoError(t, p.Run(context.Background()))
	var want []int64
	for i := range int64(1000) {
		if x := i * 2; x%3 != 0 {
			want = append(want, x)
		}
	}
	assert.Equal(t, want, sink.Values())
}

func TestKeyByParallelKeepsPerKeyOrder(t *testing.T) {
	t.Parallel()
	for _, par := range []int{1, 2, 3, 4} {
		for _, bs := range []int{1, 7, 256} {
			p := stream.New(stream.WithBatchSize(bs), stream.WithChannelCapacity(2))
			s := stream.From(p, stream.Slice(ints(5000)))
			k := stream.KeyBy(s, func(x int64) int64 { return x % 10 }, stream.Parallelism(par))
			sink := stream.Collect[int64]()
			stream.To(stream.Map(k.Stream, func(x int64) int64 { return x + 1 }), sink)
			require.NoError(t, p.Run(context.Background()))
			got := sink.Values()
			require.Len(t, got, 5000)
			last := map[int64]int64{}
			for _, v := range got {
				key := (v - 1) % 10
				if prev, ok := last[key]; ok {
					require.Greater(t, v, prev, "order lost within key %d", key)
				}
				last[key] = v
			}
		}
	}
}

func TestErrorNamesOperatorAndCancelsRest(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	p := stream.New()
	s := stream.From(p, stream.Generate(-1, func(i int64) stream.Record[int64] { return stream.At(i, 0) }))
	k := stream.KeyBy(s, func(x int64) int64 { return x }, stream.Parallelism(3))
	stream.To(k.Stream, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
		if r.Value == 10_000 {
			return boom
		}
		return nil
	}), stream.Name("fragile"))
	err := p.Run(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, boom)
	var oe *stream.OperatorError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "fragile", oe.Op)
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	p := stream.New()
	s := stream.From(p, stream.Slice(ints(10)))
	s = stream.Map(s, func(x int64) int64 {
		if x == 5 {
			panic("five")
		}
		return x
	})
	stream.To(stream.KeyBy(s, func(x int64) int64 { return x }, stream.Parallelism(2)).Stream, stream.Discard[int64]())
	err := p.Run(context.Background())
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "five", pe.Value)
	var oe *stream.OperatorError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "source.map", oe.Op)
}

// TestKeyFunctionPanicNamesTheKeyBy: a key function runs in the sender of
// its exchange, in the upstream task; its panic is reported under the
// KeyBy's name, and a panic after it in the upstream chain still under that
// chain's operator.
func TestKeyFunctionPanicNamesTheKeyBy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		key, mapf func(int64) int64
		want      string
	}{
		{"in the key function", func(x int64) int64 {
			if x == 5 {
				panic("bad key")
			}
			return x
		}, func(x int64) int64 { return x }, "by-x"},
		{"in the map after a keyed record", func(x int64) int64 { return x }, func(x int64) int64 {
			if x == 5 {
				panic("bad map")
			}
			return x
		}, "source.map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stream.New(stream.WithBatchSize(1))
			s := stream.From(p, stream.Slice(ints(10)))
			s = stream.Map(s, tc.mapf)
			stream.To(stream.KeyBy(s, tc.key, stream.Parallelism(2), stream.Name("by-x")).Stream, stream.Discard[int64]())
			err := p.Run(context.Background())
			var pe *stream.PanicError
			require.ErrorAs(t, err, &pe)
			var oe *stream.OperatorError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, tc.want, oe.Op)
		})
	}
}

func TestCancellationReturnsPromptly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := stream.New()
	ch := make(chan int64)
	s := stream.From(p, stream.Chan(ch))
	stream.To(stream.Rebalance(s, stream.Parallelism(2)), stream.Discard[int64]())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	ch <- 1
	cancel()
	select {
	case err := <-done:
		assert.Equal(t, context.Canceled, err, "cancellation is reported plainly, not as an operator's error")
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWatermarksBoundedOutOfOrderness(t *testing.T) {
	t.Parallel()
	recs := []stream.Record[string]{{Time: 100, Value: "a"}, {Time: 90, Value: "b"}, {Time: 120, Value: "c"}}
	p := stream.New()
	s := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[string](10)))
	var wms []stream.Time
	stream.To(s, &wmSink{wms: &wms})
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []stream.Time{89, 109, stream.MaxTime}, wms)
}

type wmSink struct{ wms *[]stream.Time }

func (w *wmSink) Write(context.Context, stream.Record[string]) error { return nil }
func (w *wmSink) WriteWatermark(_ context.Context, t stream.Time) error {
	*w.wms = append(*w.wms, t)
	return nil
}

func TestBuilderErrors(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(0))
	src := stream.Slice(ints(3))
	s := stream.From(p, src)
	stream.From(p, src)
	stream.Map[int64, int64](s, nil)
	stream.KeyBy(s, func(x int64) int64 { return x }, stream.Parallelism(-1))
	sink := stream.Collect[int64]()
	stream.To(s, sink)
	stream.To(s, sink)
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	for _, want := range []string{"parallelism 0", "already used", "nil function", "parallelism -1"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.ErrorIs(t, stream.New().Run(context.Background()), stream.ErrNoSource)
}

func TestProcessDeadLetters(t *testing.T) {
	t.Parallel()
	p := stream.New()
	s := stream.From(p, stream.Slice(ints(10)))
	pr := stream.Process(s, func(c *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
		if r.Value%4 == 0 {
			return stream.Rejectf("multiple of four: %d", r.Value)
		}
		return out.Emit(r)
	}, stream.Name("validate"))
	good := stream.Collect[int64]()
	bad := stream.Collect[stream.DeadLetter[int64]]()
	stream.To(pr.Stream, good)
	stream.To(pr.DeadLetters(), bad)
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []int64{1, 2, 3, 5, 6, 7, 9}, good.Values())
	var rejected []int64
	for _, d := range bad.Values() {
		rejected = append(rejected, d.Record.Value)
		assert.Equal(t, "validate", d.Operator)
		assert.Contains(t, d.Err.Error(), "multiple of four")
	}
	assert.Equal(t, []int64{0, 4, 8}, rejected)

	// Without a dead-letter consumer, a rejection fails the run.
	p2 := stream.New()
	pr2 := stream.Process(stream.From(p2, stream.Slice(ints(10))), func(c *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
		if r.Value == 3 {
			return stream.Rejectf("three")
		}
		return out.Emit(r)
	}, stream.Name("validate"))
	stream.To(pr2.Stream, stream.Discard[int64]())
	assert.ErrorIs(t, p2.Run(context.Background()), stream.ErrNotConnected)
}

func TestUnionAndIdle(t *testing.T) {
	t.Parallel()
	p := stream.New()
	a := stream.From(p, stream.Records([]stream.Record[int]{{Time: 10, Value: 1}, {Time: 20, Value: 2}}), stream.WithWatermarks(stream.BoundedOutOfOrderness[int](0)))
	// b emits one record and goes idle: it must not hold the watermark back.
	b := stream.From(p, stream.SourceFunc[int](func(ctx context.Context, out stream.SourceOutput[int]) error {
		if err := out.Emit(stream.At(100, 5)); err != nil {
			return err
		}
		if err := out.EmitWatermark(5); err != nil {
			return err
		}
		return out.MarkIdle()
	}))
	var wms []stream.Time
	u := stream.Union([]stream.Stream[int]{a, b})
	stream.To(stream.Map(u, func(x int) string { return "" }), &wmSink{wms: &wms})
	require.NoError(t, p.Run(context.Background()))
	require.NotEmpty(t, wms)
	assert.True(t, slices.IsSorted(wms))
	assert.Equal(t, stream.MaxTime, wms[len(wms)-1])
}

func TestAssignWatermarksAfterFilter(t *testing.T) {
	t.Parallel()
	// The record at 1000 is invalid (negative): filtered out, it must not
	// move the watermark.
	recs := []stream.Record[int]{{Time: 10, Value: 1}, {Time: 1000, Value: -1}, {Time: 20, Value: 2}}
	p := stream.New()
	s := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[int](0)))
	s = stream.Filter(s, func(v int) bool { return v > 0 })
	s = stream.AssignWatermarks(s, stream.BoundedOutOfOrderness[int](5))
	sink := streamtest.NewSink[int]()
	stream.To(s, sink)
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []stream.Time{4, 14, stream.MaxTime}, sink.Watermarks())
}

// batcher holds records and emits them only when drained.
type batcher struct{ held []stream.Record[int64] }

func (b *batcher) ProcessRecord(r stream.Record[int64], _ stream.Emitter[int64]) error {
	b.held = append(b.held, r)
	return nil
}
func (b *batcher) ProcessWatermark(stream.Time, stream.Emitter[int64]) error { return nil }
func (b *batcher) Drain(out stream.Emitter[int64]) error {
	for _, r := range b.held {
		if err := out.Emit(r); err != nil {
			return err
		}
	}
	b.held = b.held[:0]
	return nil
}

func TestDrainerEmitsWhenInputRunsDry(t *testing.T) {
	t.Parallel()
	in := make(chan int64)
	out := make(chan int64)
	p := stream.New()
	s := stream.Rebalance(stream.From(p, stream.Chan(in)), stream.Parallelism(1))
	stream.To(stream.Apply(s, func() stream.Operator[int64, int64] { return &batcher{} }, stream.Name("batch")), stream.ChanSink(out))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	// Each record is held by the operator until the input runs dry, which
	// happens right after it, since nothing else is sent.
	for i := range int64(3) {
		in <- i
		assert.Equal(t, i, <-out)
	}
	close(in)
	require.NoError(t, <-done)
}

// TestFusedChainNamesTheFailingOperator: Map, Filter and a SinkFunc sink
// run in one loop over each batch, in either order of Map and Filter; a
// panic or an error in any of them is still reported under its own
// operator's name, for values from a slice and for records with times, and
// the sink never gets a record after it.
func TestFusedChainNamesTheFailingOperator(t *testing.T) {
	t.Parallel()
	errSink := errors.New("sink full")
	for _, tc := range []struct {
		name        string
		fail        string // "map", "filter" or "sink"
		panics      bool
		filterFirst bool
		want        string
	}{
		{"panic in the map", "map", true, false, "source.map"},
		{"panic in the filter", "filter", true, false, "source.map.filter"},
		{"panic in the sink", "sink", true, false, "out"},
		{"error in the sink", "sink", false, false, "out"},
		{"filter first/panic in the map", "map", true, true, "source.filter.map"},
		{"filter first/panic in the filter", "filter", true, true, "source.filter"},
		{"filter first/panic in the sink", "sink", true, true, "out"},
		{"filter first/error in the sink", "sink", false, true, "out"},
	} {
		for _, records := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/records=%v", tc.name, records), func(t *testing.T) {
				t.Parallel()
				boom := func(x int64, where string) {
					if x == 500 && tc.fail == where && tc.panics {
						panic("boom")
					}
				}
				p := stream.New()
				var s stream.Stream[int64]
				if records {
					rs := make([]stream.Record[int64], 1000)
					for i := range rs {
						rs[i] = stream.At(int64(i), stream.Time(i))
					}
					s = stream.From(p, stream.Records(rs))
				} else {
					s = stream.From(p, stream.Slice(ints(1000)))
				}
				mapped := func(s stream.Stream[int64]) stream.Stream[int64] {
					return stream.Map(s, func(x int64) int64 { boom(x, "map"); return x })
				}
				filtered := func(s stream.Stream[int64]) stream.Stream[int64] {
					return stream.Filter(s, func(x int64) bool { boom(x, "filter"); return x%100 == 0 })
				}
				if tc.filterFirst {
					s = mapped(filtered(s))
				} else {
					s = filtered(mapped(s))
				}
				var written []int64
				stream.To(s, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
					boom(r.Value, "sink")
					if r.Value == 500 && tc.fail == "sink" && !tc.panics {
						return errSink
					}
					if records && r.Time != stream.Time(r.Value) {
						return fmt.Errorf("record %d at %v", r.Value, r.Time)
					}
					written = append(written, r.Value)
					return nil
				}), stream.Name("out"))
				err := p.Run(context.Background())
				var oe *stream.OperatorError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, tc.want, oe.Op)
				if tc.panics {
					var pe *stream.PanicError
					require.ErrorAs(t, err, &pe)
				} else {
					require.ErrorIs(t, err, errSink)
				}
				before := []int64{0, 100, 200, 300, 400}
				if tc.fail == "sink" {
					assert.Equal(t, before, written, "the sink has what came before")
				} else {
					assert.Equal(t, before[:len(written)], written, "at most what came before")
				}
			})
		}
	}
}
