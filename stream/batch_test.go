package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// traceSink records the records and watermarks it gets, in order, one
// record at a time (Write) or a batch at a time (WriteBatch, batchSink).
type traceSink struct {
	mu      sync.Mutex
	trace   []string
	batches []int // the length of every WriteBatch
}

func (s *traceSink) Write(_ context.Context, r stream.Record[int64]) error {
	s.mu.Lock()
	s.trace = append(s.trace, fmt.Sprintf("r %d@%d", r.Value, r.Time))
	s.mu.Unlock()
	return nil
}

func (s *traceSink) WriteWatermark(_ context.Context, w stream.Time) error {
	s.mu.Lock()
	s.trace = append(s.trace, fmt.Sprintf("w %d", w))
	s.mu.Unlock()
	return nil
}

type batchSink struct{ traceSink }

func (s *batchSink) WriteBatch(ctx context.Context, rs []stream.Record[int64]) error {
	s.mu.Lock()
	s.batches = append(s.batches, len(rs))
	s.mu.Unlock()
	for _, r := range rs {
		if err := s.traceSink.Write(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// batchStep is a stage built with the per-record operators (plain) and with
// the batch ones (batch); both must give the same records.
type batchStep struct {
	name         string
	plain, batch func(stream.Stream[int64]) stream.Stream[int64]
	hop          bool // an exchange: watermarks may be forwarded lazily
}

func randomBatchStep(rng *rand.Rand) batchStep {
	switch rng.IntN(7) {
	case 6:
		// A user operator that is a BatchProcessor: the chain in front of
		// it may run a batch ahead; what it emits, and the watermarks it
		// sees, may not change.
		return batchStep{name: "batchprocessor",
			plain: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.Apply(s, func() stream.Operator[int64, int64] { return &wmOp{} })
			},
			batch: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.Apply(s, func() stream.Operator[int64, int64] { return &batchWMOp{} })
			}}
	case 0:
		a, c := rng.Int64N(5)+1, rng.Int64N(100)
		return batchStep{name: fmt.Sprintf("map(x*%d+%d)", a, c),
			plain: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.Map(s, func(x int64) int64 { return x*a + c })
			},
			batch: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.MapBatch(s, func(in, out []stream.Record[int64]) []stream.Record[int64] {
					for _, r := range in {
						out = append(out, stream.At(r.Value*a+c, r.Time))
					}
					return out
				})
			}}
	case 1:
		k := rng.IntN(4) // 0 to 3 outputs per input: the buffer must grow
		return batchStep{name: fmt.Sprintf("flatmap(x%d)", k),
			plain: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.FlatMap(s, func(x int64, emit func(int64) error) error {
					for i := range k {
						if err := emit(x + int64(i)); err != nil {
							return err
						}
					}
					return nil
				})
			},
			batch: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.MapBatch(s, func(in, out []stream.Record[int64]) []stream.Record[int64] {
					for _, r := range in {
						for i := range k {
							out = append(out, stream.At(r.Value+int64(i), r.Time))
						}
					}
					return out
				})
			}}
	case 2:
		m, rem := rng.Int64N(4)+2, rng.Int64N(2)
		keep := func(x int64) bool { return ((x%m)+m)%m != rem }
		return batchStep{name: fmt.Sprintf("filter(x%%%d!=%d)", m, rem),
			plain: func(s stream.Stream[int64]) stream.Stream[int64] { return stream.Filter(s, keep) },
			batch: func(s stream.Stream[int64]) stream.Stream[int64] {
				return stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
					k := 0
					for _, r := range rs {
						if keep(r.Value) {
							rs[k] = r
							k++
						}
					}
					return rs[:k]
				})
			}}
	case 3:
		// A user operator: the batch operators in front of it must go
		// record by record.
		pass := func(s stream.Stream[int64]) stream.Stream[int64] {
			return stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
				return out.Emit(r)
			}).Stream
		}
		return batchStep{name: "process", plain: pass, batch: pass}
	case 4:
		bs := rng.IntN(300) + 1
		hop := func(s stream.Stream[int64]) stream.Stream[int64] {
			return stream.KeyBy(s, func(x int64) int64 { return x % 7 }, stream.Parallelism(1), stream.BatchSize(bs)).Stream
		}
		return batchStep{name: fmt.Sprintf("keyby(b=%d)", bs), plain: hop, batch: hop, hop: true}
	default:
		hop := func(s stream.Stream[int64]) stream.Stream[int64] { return stream.Rebalance(s, stream.Parallelism(1)) }
		return batchStep{name: "rebalance", plain: hop, batch: hop, hop: true}
	}
}

// TestBatchOperatorsMatchPerRecordOnes: random chains of MapBatch,
// FilterBatch, a BatchWriter sink, user operators (one of them a
// BatchProcessor emitting the watermarks it sees) and exchanges give the
// records (values, times, order) and watermarks of the same chains built
// with Map, FlatMap, Filter and a per-record sink, at batch sizes 1 to
// 1024, with and without checkpoints.
func TestBatchOperatorsMatchPerRecordOnes(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	batched := false
	for trial := range 60 {
		n := rng.IntN(3000)
		recs := make([]stream.Record[int64], n)
		at := stream.Time(0)
		for i := range recs {
			at += stream.Time(rng.IntN(3))
			recs[i] = stream.At(rng.Int64N(1000)-500, at-stream.Time(rng.IntN(5))) // a few out of order
		}
		steps := make([]batchStep, rng.IntN(6)+1)
		names := make([]string, len(steps))
		hops := false
		for i := range steps {
			steps[i] = randomBatchStep(rng)
			names[i] = steps[i].name
			hops = hops || steps[i].hop
		}
		bs := []int{1, 2, 7, 64, 333, 1024}[rng.IntN(6)]
		checkpoints := rng.IntN(3) == 0
		run := func(batch bool) *batchSink {
			opts := []stream.Option{stream.WithBatchSize(bs)}
			if checkpoints {
				store, err := stream.NewDirStore(t.TempDir())
				require.NoError(t, err)
				opts = append(opts, stream.WithCheckpoints(store, time.Millisecond))
			}
			p := stream.New(opts...)
			s := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](2)))
			for _, st := range steps {
				if batch {
					s = st.batch(s)
				} else {
					s = st.plain(s)
				}
			}
			sink := &batchSink{}
			if batch {
				stream.To(s, stream.Sink[int64](sink))
			} else {
				stream.To(s, stream.Sink[int64](&sink.traceSink))
			}
			require.NoError(t, p.Run(context.Background()))
			return sink
		}
		want, got := run(false), run(true)
		desc := fmt.Sprintf("trial %d: %d records, batch %d, checkpoints %v: %v", trial, n, bs, checkpoints, names)
		if !hops {
			require.Equal(t, want.trace, got.trace, desc)
		} else {
			// Behind an exchange the watermarks between records depend on
			// how the input arrived; the records may not.
			records := func(tr []string) []string {
				return slices.DeleteFunc(slices.Clone(tr), func(e string) bool { return e[0] == 'w' })
			}
			require.Equal(t, records(want.trace), records(got.trace), desc)
			require.Equal(t, want.trace[len(want.trace)-1], got.trace[len(got.trace)-1], desc+": the last watermark")
		}
		for _, l := range got.batches {
			batched = batched || l > 1
		}
	}
	assert.True(t, batched, "no batch of more than one record reached the sink")
}

// TestBatchOperatorsGoRecordByRecordBeforeAUserOperator: in front of a user
// operator, MapBatch and FilterBatch see batches of one record, so the
// operator sees each record right after them; elsewhere they see whole
// batches of the pipeline's batch size.
func TestBatchOperatorsGoRecordByRecordBeforeAUserOperator(t *testing.T) {
	t.Parallel()
	for _, user := range []bool{false, true} {
		t.Run(fmt.Sprintf("user=%v", user), func(t *testing.T) {
			t.Parallel()
			var log []string
			var sizes []int
			p := stream.New(stream.WithBatchSize(100))
			s := stream.From(p, stream.Slice(ints(1000)))
			s = stream.MapBatch(s, func(in, out []stream.Record[int64]) []stream.Record[int64] {
				sizes = append(sizes, len(in))
				for _, r := range in {
					log = append(log, fmt.Sprint("map ", r.Value))
					out = append(out, r)
				}
				return out
			})
			s = stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
				sizes = append(sizes, len(rs))
				return rs
			})
			if user {
				s = stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
					log = append(log, fmt.Sprint("process ", r.Value))
					return out.Emit(r)
				}).Stream
			}
			sink := stream.Collect[int64]()
			stream.To(s, sink)
			require.NoError(t, p.Run(context.Background()))
			assert.Equal(t, ints(1000), sink.Values())
			if user {
				for i := range 1000 {
					require.Equal(t, fmt.Sprint("map ", i), log[2*i])
					require.Equal(t, fmt.Sprint("process ", i), log[2*i+1])
				}
				assert.Equal(t, 2000, len(sizes))
				assert.Equal(t, 1, slices.Max(sizes))
			} else {
				assert.Equal(t, 20, len(sizes))
				assert.Equal(t, 100, slices.Min(sizes))
			}
		})
	}
}

// TestBatchOperatorsRestoreExactlyOnce: a job with MapBatch and FilterBatch
// in front of keyed state, crashed after a checkpoint and restored, gives
// the result of the same job with Map and Filter run without a crash.
func TestBatchOperatorsRestoreExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 2000
	build := func(p *stream.Pipeline, batch bool, src *streamtest.Replay[int64], sink *listSink) {
		s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
		if batch {
			s = stream.MapBatch(s, func(in, out []stream.Record[int64]) []stream.Record[int64] {
				for _, r := range in {
					out = append(out, stream.At(r.Value*3, r.Time), stream.At(r.Value*3+1, r.Time))
				}
				return out
			})
			s = stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
				return slices.DeleteFunc(rs, func(r stream.Record[int64]) bool { return r.Value%4 == 0 })
			})
		} else {
			s = stream.FlatMap(s, func(v int64, emit func(int64) error) error {
				if err := emit(v * 3); err != nil {
					return err
				}
				return emit(v*3 + 1)
			})
			s = stream.Filter(s, func(v int64) bool { return v%4 != 0 })
		}
		k := stream.KeyBy(s, func(v int64) int64 { return v % 13 }, stream.Parallelism(2), stream.BatchSize(5))
		group := k.KeyGroup()
		sums := stream.Apply(k.Stream, func() stream.Operator[int64, string] {
			return &groupSumOp{group: func(v int64) int { return group(v) }, sums: map[int64]int64{}}
		}, stream.Name("sum"))
		stream.To(sums, sink, stream.Name("list"))
	}
	ref := &listSink{}
	p := stream.New()
	build(p, false, streamtest.NewReplay(counts(n)), ref)
	require.NoError(t, p.Run(context.Background()))

	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
	held := streamtest.NewReplay(counts(n / 2))
	held.Hold = true
	build(p1, true, held, &listSink{failAt: 3})
	require.ErrorIs(t, p1.Run(context.Background()), errCrash)

	out := &listSink{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	build(p2, true, streamtest.NewReplay(counts(n)), out)
	require.NoError(t, p2.Run(context.Background()))
	assert.Equal(t, slices.Sorted(slices.Values(ref.vals)), slices.Sorted(slices.Values(out.vals)))
}

// TestBatchOperatorErrors: a FilterBatch returning what is not a prefix of
// its batch, a panic in MapBatch and a failed WriteBatch fail the run under
// the operator's name; a retried WriteBatch gets the same batch again.
func TestBatchOperatorErrors(t *testing.T) {
	t.Parallel()
	t.Run("filter not a prefix", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		s := stream.FilterBatch(stream.From(p, stream.Slice(ints(10))), func(rs []stream.Record[int64]) []stream.Record[int64] {
			return slices.Clone(rs[1:])
		}, stream.Name("bad"))
		stream.To(s, stream.Discard[int64]())
		err := p.Run(context.Background())
		require.ErrorIs(t, err, stream.ErrInvalid)
		var oe *stream.OperatorError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "bad", oe.Op)
		assert.Contains(t, err.Error(), "not a prefix")
	})
	t.Run("panic in map", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		s := stream.MapBatch(stream.From(p, stream.Slice(ints(10))), func(in, out []stream.Record[int64]) []stream.Record[int64] {
			panic("boom")
		}, stream.Name("m"))
		stream.To(s, stream.Discard[int64]())
		err := p.Run(context.Background())
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
		var oe *stream.OperatorError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "m", oe.Op)
	})
	t.Run("sink error", func(t *testing.T) {
		t.Parallel()
		full := errors.New("full")
		p := stream.New()
		var written int
		stream.To(stream.From(p, stream.Slice(ints(5000))), stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
			if written >= 2000 {
				return full
			}
			written += len(rs)
			return nil
		}), stream.Name("out"))
		err := p.Run(context.Background())
		require.ErrorIs(t, err, full)
		var oe *stream.OperatorError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "out", oe.Op)
		assert.Less(t, written, 5000)
	})
	t.Run("retried batch", func(t *testing.T) {
		t.Parallel()
		flaky := errors.New("flaky")
		p := stream.New(stream.WithBatchSize(64))
		var got []int64
		calls := 0
		stream.To(stream.From(p, stream.Slice(ints(1000))), stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
			if calls++; calls%3 == 0 {
				return flaky // all or nothing: nothing of rs is kept
			}
			for _, r := range rs {
				got = append(got, r.Value)
			}
			return nil
		}), stream.RetryWrites(stream.Retry{Attempts: 2}))
		require.NoError(t, p.Run(context.Background()))
		assert.Equal(t, ints(1000), got)
	})
	t.Run("nil functions", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		s := stream.From(p, stream.Slice(ints(1)))
		stream.To(stream.FilterBatch(stream.MapBatch[int64, int64](s, nil), nil), stream.Discard[int64]())
		err := p.Run(context.Background())
		require.ErrorIs(t, err, stream.ErrInvalid)
		assert.Contains(t, err.Error(), "nil function")
	})
}

// TestSinkBatchWrite: a SinkBatch used as a plain Sink writes one record
// per call.
func TestSinkBatchWrite(t *testing.T) {
	t.Parallel()
	var got [][]stream.Record[int64]
	sink := stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
		got = append(got, slices.Clone(rs))
		return nil
	})
	require.NoError(t, sink.Write(context.Background(), stream.At(int64(4), 9)))
	assert.Equal(t, [][]stream.Record[int64]{{stream.At(int64(4), 9)}}, got)
}

// TestBatchChainAllocatesNothingPerRecord: a MapBatch, FilterBatch and
// SinkBatch chain allocates as much for 100,000 records as for 1,000 (the
// pipeline's setup only).
func TestBatchChainAllocatesNothingPerRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count over two runs")
	}
	in := ints(100_000)
	run := func(vs []int64) func() {
		return func() {
			p := stream.New(stream.WithParallelism(1))
			s := stream.MapBatch(stream.From(p, stream.Slice(vs)), func(in, out []stream.Record[int64]) []stream.Record[int64] {
				for _, r := range in {
					out = append(out, stream.At(r.Value*2, r.Time))
				}
				return out
			})
			s = stream.FilterBatch(s, func(rs []stream.Record[int64]) []stream.Record[int64] {
				return slices.DeleteFunc(rs, func(r stream.Record[int64]) bool { return r.Value%3 == 0 })
			})
			var sum int64
			stream.To(s, stream.SinkBatch[int64](func(_ context.Context, rs []stream.Record[int64]) error {
				for _, r := range rs {
					sum += r.Value
				}
				return nil
			}))
			if err := p.Run(context.Background()); err != nil {
				panic(err)
			}
		}
	}
	small := testing.AllocsPerRun(5, run(in[:1000]))
	large := testing.AllocsPerRun(5, run(in))
	assert.InDelta(t, small, large, 8, "allocations for 1,000 records %v, for 100,000 %v", small, large)
}

// TestDefaultBatchSize: 1024 small records, fewer large ones (near 64 KiB
// a batch), at least 16.
func TestDefaultBatchSize(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 1024, stream.DefaultBatchSize[int64]())
	assert.Equal(t, 64, stream.DefaultBatchSize[[1016]byte]()) // 1 KiB records with their time
	assert.Equal(t, 16, stream.DefaultBatchSize[[1 << 20]byte]())
}
