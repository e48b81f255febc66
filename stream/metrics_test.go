package stream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type tally struct {
	mu                  sync.Mutex
	in, out, errs, fill map[string]int64
	wm                  map[string]stream.Time
}

func newTally() *tally {
	return &tally{in: map[string]int64{}, out: map[string]int64{}, errs: map[string]int64{}, fill: map[string]int64{}, wm: map[string]stream.Time{}}
}

func (t *tally) Operator(name string, _ int) stream.OperatorMetrics {
	return &opTally{t: t, name: name}
}

type opTally struct {
	t    *tally
	name string
}

func (o *opTally) add(m map[string]int64, n int64) {
	o.t.mu.Lock()
	m[o.name] += n
	o.t.mu.Unlock()
}
func (o *opTally) RecordsIn(n int64)  { o.add(o.t.in, n) }
func (o *opTally) RecordsOut(n int64) { o.add(o.t.out, n) }
func (o *opTally) Late(int64)         {}
func (o *opTally) Errors(n int64)     { o.add(o.t.errs, n) }
func (o *opTally) Watermark(w stream.Time) {
	o.t.mu.Lock()
	if w > o.t.wm[o.name] {
		o.t.wm[o.name] = w
	}
	o.t.mu.Unlock()
}
func (o *opTally) QueueFill(used, _ int) { o.add(o.t.fill, 1) }

func TestMetricsHookCountsPerOperator(t *testing.T) {
	t.Parallel()
	m := newTally()
	p := stream.New(stream.WithMetrics(m), stream.WithBatchSize(16))
	s := stream.From(p, stream.Slice(ints(10_000)), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	s = stream.Map(s, func(x int64) int64 { return x + 1 })
	s = stream.Filter(s, func(x int64) bool { return x%2 == 0 })
	pr := stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
		if r.Value%10 == 0 {
			return stream.Rejectf("tens")
		}
		return out.Emit(r)
	}, stream.Name("check"))
	stream.To(pr.DeadLetters(), stream.Discard[stream.DeadLetter[int64]](), stream.Name("dead"))
	stream.To(stream.KeyBy(pr.Stream, func(x int64) int64 { return x }, stream.Parallelism(2)).Stream, stream.Discard[int64](), stream.Name("out"))
	require.NoError(t, p.Run(context.Background()))

	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Equal(t, int64(10_000), m.out["source"])
	assert.Equal(t, int64(10_000), m.in["source.map"])
	assert.Equal(t, int64(10_000), m.out["source.map"])
	assert.Equal(t, int64(10_000), m.in["source.map.filter"])
	assert.Equal(t, int64(5_000), m.out["source.map.filter"])
	assert.Equal(t, int64(5_000), m.in["check"])
	assert.Equal(t, int64(4_000), m.out["check"])
	assert.Equal(t, int64(1_000), m.errs["check"])
	assert.Equal(t, int64(1_000), m.in["dead"])
	assert.Equal(t, int64(4_000), m.in["out"])
	assert.Equal(t, int64(4_000), m.in["check.keyby"], "both keyby instances together")
	assert.Equal(t, stream.MaxTime, m.wm["out"])
	assert.Positive(t, m.fill["check.keyby"], "exchange queue fill reported")
}

// TestFilterMapChainCounts runs chains that start with a Filter and a Map,
// which the runtime runs in one loop over each batch when it can, and
// checks each one's output (values and times) and every operator's counts
// against the same chain run a record at a time (behind a Process, which
// takes no batches).
func TestFilterMapChainCounts(t *testing.T) {
	t.Parallel()
	rs := make([]stream.Record[int64], 10_000)
	for i := range rs {
		rs[i] = stream.At(int64(i), stream.Time(i))
	}
	keep := func(x int64) bool { return x%3 != 0 }
	double := func(x int64) int64 { return 2 * x }
	for _, tc := range []struct {
		name  string
		build func(s stream.Stream[int64], sink stream.Sink[int64])
	}{
		{"filter-map-sinkfunc", func(s stream.Stream[int64], sink stream.Sink[int64]) {
			stream.To(stream.Map(stream.Filter(s, keep), double), sinkFunc(sink), stream.Name("out"))
		}},
		{"filter-map-sink", func(s stream.Stream[int64], sink stream.Sink[int64]) {
			stream.To(stream.Map(stream.Filter(s, keep), double), sink, stream.Name("out"))
		}},
		{"filter-map-filter-sinkfunc", func(s stream.Stream[int64], sink stream.Sink[int64]) {
			m := stream.Map(stream.Filter(s, keep), double)
			stream.To(stream.Filter(m, func(x int64) bool { return x%5 != 0 }), sinkFunc(sink), stream.Name("out"))
		}},
		{"filter-map-map-sinkfunc", func(s stream.Stream[int64], sink stream.Sink[int64]) {
			m := stream.Map(stream.Filter(s, keep), double)
			stream.To(stream.Map(m, func(x int64) int64 { return x + 1 }), sinkFunc(sink), stream.Name("out"))
		}},
		{"filter-map-sinkfunc-retried", func(s stream.Stream[int64], sink stream.Sink[int64]) {
			stream.To(stream.Map(stream.Filter(s, keep), double), sinkFunc(sink), stream.Name("out"), stream.RetryWrites(stream.Retry{Attempts: 2}))
		}},
	} {
		for _, records := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/records=%v", tc.name, records), func(t *testing.T) {
				t.Parallel()
				run := func(oneByOne bool) (*tally, []stream.Record[int64]) {
					m := newTally()
					p := stream.New(stream.WithMetrics(m), stream.WithBatchSize(100))
					var s stream.Stream[int64]
					name := "source"
					if oneByOne {
						name = "in"
					}
					if records {
						s = stream.From(p, stream.Records(rs), stream.Name(name))
					} else {
						s = stream.From(p, stream.Slice(ints(len(rs))), stream.Name(name))
					}
					if oneByOne {
						s = stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
							return out.Emit(r)
						}, stream.Name("source")).Stream
					}
					got := stream.Collect[int64]()
					tc.build(s, got)
					require.NoError(t, p.Run(context.Background()))
					return m, got.Records()
				}
				m, got := run(false)
				mw, want := run(true)
				require.NotEmpty(t, want)
				assert.Equal(t, want, got)
				for op, n := range mw.in {
					if op != "in" && op != "source" {
						assert.Equal(t, n, m.in[op], "records into %s", op)
					}
				}
				for op, n := range mw.out {
					if op != "in" && op != "source" {
						assert.Equal(t, n, m.out[op], "records out of %s", op)
					}
				}
				assert.Equal(t, int64(len(rs)), m.in["source.filter"])
				assert.Equal(t, int64(len(rs)-len(rs)/3-1), m.out["source.filter"])
				assert.Equal(t, int64(len(want)), m.in["out"])
			})
		}
	}
}

// sinkFunc is s as a SinkFunc, which the runtime calls directly.
func sinkFunc[T any](s stream.Sink[T]) stream.SinkFunc[T] {
	return func(ctx context.Context, r stream.Record[T]) error { return s.Write(ctx, r) }
}
