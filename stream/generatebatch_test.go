package stream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// genRecord is record i of the generators below: out of order by up to
// three time units.
func genRecord(i int64) stream.Record[int64] {
	return stream.At(i*7%1000, stream.Time(i-i%4+(3-i%4)))
}

// TestGenerateBatchMatchesGenerate: GenerateBatch gives the records and
// watermarks of Generate with the same records, in front of batch-taking
// chains, a user operator (records one at a time), an exchange and a
// filter that compacts the source's buffer in place, at several batch
// sizes; its fill calls cover 0..n-1 once each, in order.
func TestGenerateBatchMatchesGenerate(t *testing.T) {
	t.Parallel()
	const n = 5000
	chains := map[string]func(stream.Stream[int64]) stream.Stream[int64]{
		"sink": func(s stream.Stream[int64]) stream.Stream[int64] { return s },
		"filter-map": func(s stream.Stream[int64]) stream.Stream[int64] {
			s = stream.Filter(s, func(x int64) bool { return x%3 != 0 })
			return stream.Map(s, func(x int64) int64 { return x + 1 })
		},
		"filterbatch": func(s stream.Stream[int64]) stream.Stream[int64] {
			return stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
				k := 0
				for _, r := range rs {
					if r.Value%5 != 0 {
						rs[k] = r
						k++
					}
				}
				return rs[:k]
			})
		},
		"process": func(s stream.Stream[int64]) stream.Stream[int64] {
			return stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
				return out.Emit(r)
			}).Stream
		},
		"keyby": func(s stream.Stream[int64]) stream.Stream[int64] {
			return stream.KeyBy(s, func(x int64) int64 { return x % 5 }, stream.Parallelism(1)).Stream
		},
	}
	for name, chain := range chains {
		for _, bs := range []int{1, 7, 256, 1024} {
			t.Run(fmt.Sprintf("%s/batch=%d", name, bs), func(t *testing.T) {
				t.Parallel()
				run := func(src stream.Source[int64]) []string {
					p := stream.New(stream.WithBatchSize(bs))
					s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](2)))
					sink := &traceSink{}
					stream.To(chain(s), stream.Sink[int64](sink))
					require.NoError(t, p.Run(context.Background()))
					return sink.trace
				}
				var calls, longest int
				next := int64(0)
				filled := stream.GenerateBatch(n, func(first int64, rs []stream.Record[int64]) {
					if first != next {
						panic(fmt.Sprintf("fill from %d, want %d", first, next))
					}
					calls++
					longest = max(longest, len(rs))
					for j := range rs {
						rs[j] = genRecord(first + int64(j))
					}
					next += int64(len(rs))
				})
				want := run(stream.Generate(n, genRecord))
				got := run(filled)
				if name == "keyby" {
					assert.Equal(t, records(want), records(got))
					assert.Equal(t, want[len(want)-1], got[len(got)-1], "the last watermark")
				} else {
					assert.Equal(t, want, got)
				}
				assert.Equal(t, int64(n), next)
				assert.LessOrEqual(t, longest, bs)
				assert.Equal(t, (n+longest-1)/longest, calls)
				if bs > 1 {
					assert.Greater(t, longest, 1, "one record per call")
				}
			})
		}
	}
}

// records is a trace without its watermarks.
func records(trace []string) []string {
	var out []string
	for _, e := range trace {
		if e[0] == 'r' {
			out = append(out, e)
		}
	}
	return out
}

// TestGenerateBatchEnds: n = 0 emits nothing, n < 0 runs until the run is
// cancelled, a nil function is an ErrInvalid, and a panic in the function
// is the source's.
func TestGenerateBatchEnds(t *testing.T) {
	t.Parallel()
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		called := false
		sink := stream.Collect[int64]()
		stream.To(stream.From(p, stream.GenerateBatch(0, func(int64, []stream.Record[int64]) { called = true })), sink)
		require.NoError(t, p.Run(context.Background()))
		assert.Empty(t, sink.Values())
		assert.False(t, called)
	})
	t.Run("unbounded", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := stream.New()
		var seen int64
		src := stream.GenerateBatch(-1, func(first int64, rs []stream.Record[int64]) {
			for j := range rs {
				rs[j] = stream.At(first+int64(j), 0)
			}
		})
		stream.To(stream.From(p, src), stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
			if r.Value != seen {
				return fmt.Errorf("record %d, want %d", r.Value, seen)
			}
			if seen++; seen == 100_000 {
				cancel()
			}
			return nil
		}))
		err := p.Run(ctx)
		require.ErrorIs(t, err, context.Canceled)
		assert.GreaterOrEqual(t, seen, int64(100_000))
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		stream.To(stream.From(p, stream.GenerateBatch[int64](5, nil)), stream.Discard[int64]())
		require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
	})
	for _, batch := range []bool{false, true} {
		for _, user := range []bool{false, true} {
			t.Run(fmt.Sprintf("panic/batch=%v/user=%v", batch, user), func(t *testing.T) {
				testGeneratorPanic(t, batch, user)
			})
		}
	}
}

// testGeneratorPanic: a panic in the function of GenerateBatch (batch) or
// Generate, in front of a sink (batches) or of a user operator (one record
// at a time), is the source's, not that of the operator that ran last.
func testGeneratorPanic(t *testing.T, batch, user bool) {
	t.Parallel()
	p := stream.New()
	src := stream.Generate(3000, func(i int64) stream.Record[int64] {
		if i == 2000 {
			panic("generate")
		}
		return stream.At(i, 0)
	})
	if batch {
		src = stream.GenerateBatch(3000, func(first int64, rs []stream.Record[int64]) {
			if first > 0 {
				panic("fill")
			}
			for j := range rs {
				rs[j] = stream.At(first+int64(j), 0)
			}
		})
	}
	s := stream.From(p, src, stream.Name("gen"))
	if user {
		s = stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
			return out.Emit(r)
		}, stream.Name("user")).Stream
	}
	stream.To(s, stream.Discard[int64]())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Run(ctx)
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	var oe *stream.OperatorError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "gen", oe.Op)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
