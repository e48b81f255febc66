package enrich

import (
	"context"
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
		b.Run(tc.name, func(b *testing.B) {
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
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(maxState), "max-state-records")
			b.ReportMetric(float64(results)/float64(n/2), "results/left")
		})
	}
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
