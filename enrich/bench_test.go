package enrich

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// side is an input of the single-source join set-ups below: one source
// emits both sides interleaved, so both reach the join with the same
// watermarks and the state held depends only on the interval and the
// disorder.
type side struct {
	Right bool
	Key   int
	ID    int
}

// interleaved returns a source of n records alternating between the sides,
// record i at time i*step plus a jitter in [0, disorder], over keys keys.
func interleaved(n int64, keys int, step, disorder int64) stream.Source[side] {
	return stream.Generate(n, func(i int64) stream.Record[side] {
		jitter := int64((uint64(i) * 0x9e3779b97f4a7c15 >> 33) % uint64(disorder+1))
		return stream.At(side{Right: i%2 == 1, Key: int(i/2) % keys, ID: int(i)}, stream.Time(i*step+jitter))
	})
}

func splitSides(s stream.Stream[side]) (stream.Stream[side], stream.Stream[side]) {
	a := stream.Filter(s, func(v side) bool { return !v.Right })
	b := stream.Filter(s, func(v side) bool { return v.Right })
	return a, b
}

func sideKey(v side) int { return v.Key }

// TestIntervalJoinStateBounded checks that state is dropped as the
// watermark passes: the join holds about the records of one interval plus
// the disorder, not the stream, and nothing at the end.
func TestIntervalJoinStateBounded(t *testing.T) {
	t.Parallel()
	const n = 20_000
	var mu sync.Mutex
	var maxState, final []int
	p := stream.New(stream.WithBatchSize(16))
	s := stream.From(p, interleaved(n, 50, 10, 50), stream.WithWatermarks(stream.BoundedOutOfOrderness[side](50)))
	a, b := splitSides(s)
	j := IntervalLeftJoin(a, b, sideKey, sideKey, -100, 200, func(x, y side, ok bool) int { return x.ID }, JoinExchange(stream.Parallelism(2)),
		withStateProbe(func(m, f int) {
			mu.Lock()
			maxState, final = append(maxState, m), append(final, f)
			mu.Unlock()
		}))
	var out int
	stream.To(j.Stream, stream.SinkFunc[int](func(context.Context, stream.Record[int]) error { out++; return nil }))
	require.NoError(t, p.Run(context.Background()))
	require.Len(t, maxState, 2)
	// Per side, one record per 20 time units. An a is held until the
	// watermark (max seen - 51) passes a.t + 200, a b until it passes
	// b.t + 100: with the jitter, about (301+50)/20 + (201+50)/20 = 30
	// records; the watermark can lag by a batch of 16 records per side in
	// the exchange, adding some 16 more per side. Without dropping, the join
	// would hold all 20000.
	total := maxState[0] + maxState[1]
	assert.Positive(t, total)
	assert.LessOrEqual(t, total, 100, "state held")
	assert.Equal(t, []int{0, 0}, final, "state left at end of input")
	assert.GreaterOrEqual(t, out, n/2, "every left record comes out at least once")
}

func BenchmarkIntervalJoin(b *testing.B) {
	const n = 200_000 // records per run, both sides together
	for _, tc := range []struct {
		name         string
		lower, upper time.Duration
	}{
		{"interval=±5ms", -5 * time.Millisecond, 5 * time.Millisecond},
		{"interval=±50ms", -50 * time.Millisecond, 50 * time.Millisecond},
	} {
		lower, upper := int64(tc.lower), int64(tc.upper)
		want := handIntervalJoin(n, 1000, int64(5*time.Microsecond), int64(10*time.Millisecond), lower, upper)
		b.Run(tc.name+"/hand-written", func(b *testing.B) {
			b.ReportAllocs()
			results := 0
			for b.Loop() {
				results = handIntervalJoin(n, 1000, int64(5*time.Microsecond), int64(10*time.Millisecond), lower, upper)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(results)/float64(n/2), "results/left")
		})
		b.Run(tc.name+"/brook", func(b *testing.B) {
			b.ReportAllocs()
			maxState, results := 0, 0
			for b.Loop() {
				// 100k events/s per side over 1000 keys, 10ms out of order.
				p := stream.New(stream.WithParallelism(1))
				s := stream.From(p, interleaved(n, 1000, int64(5*time.Microsecond), int64(10*time.Millisecond)),
					stream.WithWatermarks(stream.BoundedOutOfOrderness[side](10*time.Millisecond)))
				x, y := splitSides(s)
				j := IntervalJoin(x, y, sideKey, sideKey, tc.lower, tc.upper, func(l, r side) int { return l.ID + r.ID },
					withStateProbe(func(m, _ int) { maxState = max(maxState, m) }))
				results = 0
				stream.To(j.Stream, stream.SinkFunc[int](func(context.Context, stream.Record[int]) error { results++; return nil }))
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			if results != want {
				b.Fatalf("brook joined %d pairs, the hand-written loop %d", results, want)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(maxState), "max-state-records")
			b.ReportMetric(float64(results)/float64(n/2), "results/left")
		})
	}
}

// handIntervalJoin is the baseline: the same records as interleaved, joined
// in one loop with per-key buffers that are pruned as the watermark
// (bounded out-of-orderness, as in the pipeline) passes. It returns the
// number of pairs.
func handIntervalJoin(n int64, keys int, step, disorder, lower, upper int64) int {
	type rec struct{ t int64 }
	left := make([][]rec, keys)
	right := make([][]rec, keys)
	maxSeen, wm, pairs := int64(-1<<63), int64(-1<<63), 0
	for i := range n {
		jitter := int64((uint64(i) * 0x9e3779b97f4a7c15 >> 33) % uint64(disorder+1))
		t, k := i*step+jitter, int(i/2)%keys
		if i%2 == 0 { // left
			for _, r := range right[k] {
				if t+lower <= r.t && r.t <= t+upper {
					pairs++
				}
			}
			left[k] = append(left[k], rec{t})
		} else {
			for _, l := range left[k] {
				if l.t+lower <= t && t <= l.t+upper {
					pairs++
				}
			}
			right[k] = append(right[k], rec{t})
		}
		if t > maxSeen {
			maxSeen = t
			wm = maxSeen - disorder - 1
		}
		if i&1023 == 0 { // prune what no future record can match
			for k := range keys {
				left[k] = slices.DeleteFunc(left[k], func(l rec) bool { return l.t+upper <= wm })
				right[k] = slices.DeleteFunc(right[k], func(r rec) bool { return r.t-lower <= wm })
			}
		}
	}
	return pairs
}

type benchRow struct{ Title string }

type benchOut struct {
	ID    int
	Title string
}

// BenchmarkLookup compares an in-memory lookup join in a pipeline with a
// hand-written loop doing the same map lookups and joins.
func BenchmarkLookup(b *testing.B) {
	const n, keys = 200_000, 1000
	rows := make(map[string]benchRow, keys)
	ids := make([]string, keys)
	for k := range keys {
		ids[k] = "track-" + strconv.Itoa(k)
		rows[ids[k]] = benchRow{Title: "title " + ids[k]}
	}
	recs := make([]stream.Record[side], n)
	for i := range recs {
		recs[i] = stream.At(side{Key: (i * 7919) % keys, ID: i}, stream.Time(i))
	}
	key := func(v side) string { return ids[v.Key] }
	join := func(v side, r benchRow) benchOut { return benchOut{ID: v.ID, Title: r.Title} }

	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		sink := make([]benchOut, 0, n)
		for b.Loop() {
			sink = sink[:0]
			for _, r := range recs {
				if row, ok := rows[key(r.Value)]; ok {
					sink = append(sink, join(r.Value, row))
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, batch := range []int{1, 64} {
		b.Run("brook/batch="+strconv.Itoa(batch), func(b *testing.B) {
			b.ReportAllocs()
			tbl := NewMapTable(rows)
			for b.Loop() {
				p := stream.New(stream.WithParallelism(1))
				e := Lookup(stream.From(p, stream.Records(recs)), tbl, key, join, Batch(batch))
				stream.To(e.Stream, stream.Discard[benchOut]())
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// slowTable answers every Get, and every GetMany as one round trip, after a
// fixed latency: a remote table on a 5 ms link.
type slowTable struct{ latency time.Duration }

func (s slowTable) wait(ctx context.Context) error {
	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slowTable) Get(ctx context.Context, k int) (int, bool, error) {
	if err := s.wait(ctx); err != nil {
		return 0, false, err
	}
	return k * 2, true, nil
}

func (s slowTable) GetMany(ctx context.Context, keys []int, rows []int, found []bool) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	for i, k := range keys {
		rows[i], found[i] = k*2, true
	}
	return nil
}

// BenchmarkAsyncLookup compares, on one instance, lookups in a table with a
// 5 ms round trip: the synchronous Lookup (a Get per record, and batches of
// 100 with GetMany), the asynchronous one with 100 lookups in flight, and a
// hand-written baseline keeping 100 goroutines busy with Gets and putting
// the results back in order.
func BenchmarkAsyncLookup(b *testing.B) {
	tbl := slowTable{latency: 5 * time.Millisecond}
	key := func(v int) int { return v }
	join := func(v, row int) int { return v + row }
	records := func(n int) []stream.Record[int] {
		in := make([]stream.Record[int], n)
		for i := range in {
			in[i] = stream.At(i, stream.Time(i))
		}
		return in
	}
	run := func(b *testing.B, n int, opts ...LookupOption) {
		b.ReportAllocs()
		in := records(n)
		for b.Loop() {
			p := stream.New()
			e := Lookup(stream.From(p, stream.Records(in)), tbl, key, join, opts...)
			var got int
			stream.To(e.Stream, stream.SinkFunc[int](func(_ context.Context, r stream.Record[int]) error {
				if r.Value != 3*got {
					b.Fatalf("result %d out of order or wrong", r.Value)
				}
				got++
				return nil
			}))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("%d results, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("hand-written/100-goroutines", func(b *testing.B) {
		b.ReportAllocs()
		const n = 5000
		ctx := context.Background()
		for b.Loop() {
			out := make([]int, n)
			sem := make(chan struct{}, 100)
			var wg sync.WaitGroup
			for i := range n {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					row, _, err := tbl.Get(ctx, i)
					if err != nil {
						panic(err)
					}
					out[i] = i + row
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("sync/get-per-record", func(b *testing.B) { run(b, 100) })
	b.Run("sync/batch=100", func(b *testing.B) { run(b, 2000, Batch(100)) })
	b.Run("async/in-flight=100", func(b *testing.B) { run(b, 5000, Async(stream.MaxInFlight(100))) })
	b.Run("async/in-flight=100/unordered", func(b *testing.B) {
		b.ReportAllocs()
		const n = 5000
		in := records(n)
		for b.Loop() {
			p := stream.New()
			e := Lookup(stream.From(p, stream.Records(in)), tbl, key, join, Async(stream.MaxInFlight(100), stream.Unordered()))
			var got int
			stream.To(e.Stream, stream.SinkFunc[int](func(context.Context, stream.Record[int]) error { got++; return nil }))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("%d results, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
