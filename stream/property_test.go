package stream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// step is one randomly chosen stage: how to add it to a pipeline and how to
// apply it to a plain slice (the sequential reference).
type step struct {
	name  string
	build func(stream.Stream[int64]) stream.Stream[int64]
	ref   func([]int64) []int64
}

func randomStep(rng *rand.Rand) step {
	switch rng.IntN(5) {
	case 0:
		a, c := rng.Int64N(5)+1, rng.Int64N(100)
		return step{fmt.Sprintf("map(x*%d+%d)", a, c),
			func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.Map(s, func(x int64) int64 { return x*a + c })
			},
			func(xs []int64) []int64 {
				out := make([]int64, len(xs))
				for i, x := range xs {
					out[i] = x*a + c
				}
				return out
			}}
	case 1:
		m, r := rng.Int64N(4)+2, rng.Int64N(2)
		keep := func(x int64) bool { return ((x%m)+m)%m != r }
		return step{fmt.Sprintf("filter(x%%%d!=%d)", m, r),
			func(s stream.Stream[int64]) stream.Stream[int64] { return stream.Filter(s, keep) },
			func(xs []int64) []int64 {
				return slices.DeleteFunc(slices.Clone(xs), func(x int64) bool { return !keep(x) })
			}}
	case 2:
		k := rng.IntN(3)
		return step{fmt.Sprintf("flatmap(x%d)", k),
			func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.FlatMap(s, func(x int64, emit func(int64) error) error {
					for i := range k {
						if err := emit(x + int64(i)); err != nil {
							return err
						}
					}
					return nil
				})
			},
			func(xs []int64) []int64 {
				var out []int64
				for _, x := range xs {
					for i := range k {
						out = append(out, x+int64(i))
					}
				}
				return out
			}}
	case 3:
		par, bs := rng.IntN(4)+1, rng.IntN(300)+1
		return step{fmt.Sprintf("keyby(p=%d,b=%d)", par, bs),
			func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.KeyBy(s, func(x int64) int64 { return x % 7 }, stream.Parallelism(par), stream.BatchSize(bs)).Stream
			},
			func(xs []int64) []int64 { return xs }}
	default:
		par := rng.IntN(4) + 1
		return step{fmt.Sprintf("rebalance(p=%d)", par),
			func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.Rebalance(s, stream.Parallelism(par))
			},
			func(xs []int64) []int64 { return xs }}
	}
}

// TestRandomPipelinesMatchSequentialReference runs random chains of
// operators and exchanges and compares the output (as a multiset) with the
// stages applied one after another to a slice. It also checks that the sink
// saw a non-decreasing watermark ending at MaxTime.
func TestRandomPipelinesMatchSequentialReference(t *testing.T) {
	t.Parallel()
	runs := 60
	if testing.Short() {
		runs = 15
	}
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := rng.IntN(3000)
		input := make([]stream.Record[int64], n)
		for i := range input {
			input[i] = stream.At(rng.Int64N(1000)-500, stream.Time(i*10-rng.IntN(30)))
		}
		var steps []step
		for range rng.IntN(6) + 1 {
			steps = append(steps, randomStep(rng))
		}
		p := stream.New(stream.WithBatchSize(rng.IntN(64)+1), stream.WithChannelCapacity(rng.IntN(4)+1), stream.WithParallelism(2))
		s := stream.From(p, stream.Records(input), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](time.Duration(rng.IntN(40)))))
		want := make([]int64, n)
		for i, r := range input {
			want[i] = r.Value
		}
		var names []string
		for _, st := range steps {
			s = st.build(s)
			want = st.ref(want)
			names = append(names, st.name)
		}
		sink := streamtest.NewSink[int64]()
		stream.To(s, sink)
		require.NoError(t, p.Run(context.Background()), "seed %d: %v", seed, names)
		got := sink.Values()
		slices.Sort(got)
		slices.Sort(want)
		if len(want) == 0 {
			want = nil
		}
		assert.Equal(t, want, got, "seed %d: %v", seed, names)
		wms := sink.Watermarks()
		require.NotEmpty(t, wms, "seed %d", seed)
		assert.True(t, slices.IsSorted(wms), "seed %d: watermarks went back", seed)
		assert.Equal(t, stream.MaxTime, wms[len(wms)-1])
		assert.True(t, sink.Ended())
	}
}

// TestWatermarkOrderKeptAcrossExchange checks that every record reaches a
// single downstream instance with exactly the watermark that preceded it at
// the source, whatever the batch size: lateness decisions downstream depend
// on it.
func TestWatermarkOrderKeptAcrossExchange(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]stream.Record[int64], 2000)
	for i := range recs {
		recs[i] = stream.At(int64(i), stream.Time(i*5+rng.IntN(50)))
	}
	// The reference: the bounded-out-of-orderness watermark before each record.
	want := make([]stream.Time, len(recs))
	w, maxSeen := stream.MinTime, stream.MinTime
	for i, r := range recs {
		want[i] = w
		maxSeen = max(maxSeen, r.Time)
		w = max(w, maxSeen-20-1)
	}
	for _, bs := range []int{1, 3, 64, 1024} {
		p := stream.New()
		s := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](20)))
		k := stream.KeyBy(s, func(int64) int { return 0 }, stream.Parallelism(1), stream.BatchSize(bs))
		sink := streamtest.NewSink[int64]()
		stream.To(k.Stream, sink)
		require.NoError(t, p.Run(context.Background()))
		require.Equal(t, want, sink.WatermarkBefore(), "batch size %d", bs)
	}
}
