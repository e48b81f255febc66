package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// groupSumOp keeps a running sum per key (v % 13) by key group and emits
// "key=sum" per record.
type groupSumOp struct {
	group func(int64) int
	c     *stream.Context
	sums  map[int64]int64
}

func (o *groupSumOp) Open(c *stream.Context) error { o.c = c; return nil }

func (o *groupSumOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[string]) error {
	k := r.Value % 13
	if g := o.group(k); !o.c.KeyGroups().Contains(g) {
		return fmt.Errorf("key %d of group %d at an instance owning %v", k, g, o.c.KeyGroups())
	}
	o.sums[k] += r.Value
	return out.Emit(stream.At(fmt.Sprintf("%d=%d", k, o.sums[k]), r.Time))
}

func (o *groupSumOp) ProcessWatermark(stream.Time, stream.Emitter[string]) error { return nil }

func (o *groupSumOp) SnapshotKeyGroup(g int) ([]byte, error) {
	var b []byte
	for k, v := range o.sums {
		if o.group(k) == g {
			b = binary.AppendVarint(b, k)
			b = binary.AppendVarint(b, v)
		}
	}
	return b, nil
}

func (o *groupSumOp) RestoreKeyGroup(g int, b []byte) error {
	for len(b) > 0 {
		k, n := binary.Varint(b)
		if n <= 0 {
			return errors.New("bad key")
		}
		v, m := binary.Varint(b[n:])
		if m <= 0 {
			return errors.New("bad sum")
		}
		if o.group(k) != g {
			return fmt.Errorf("key %d restored into group %d", k, g)
		}
		o.sums[k], b = v, b[n+m:]
	}
	return nil
}

func buildGroupSum(p *stream.Pipeline, par int, src *streamtest.Replay[int64], sink *listSink) {
	s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	k := stream.KeyBy(stream.Map(s, func(v int64) int64 { return v }), func(v int64) int64 { return v % 13 }, stream.Parallelism(par), stream.BatchSize(5))
	group := k.KeyGroup()
	sums := stream.Apply(k.Stream, func() stream.Operator[int64, string] {
		return &groupSumOp{group: func(v int64) int { return group(v) }, sums: map[int64]int64{}}
	}, stream.Name("sum"))
	stream.To(sums, sink, stream.Name("list"))
}

// crashAt runs build at parallelism par with half the input, held open,
// until checkpoint 3 completes and the sink crashes.
func crashAt(t *testing.T, store stream.CheckpointStore, par int, n int64, opts ...stream.Option) {
	t.Helper()
	p := stream.New(append(opts, stream.WithCheckpoints(store, time.Millisecond))...)
	held := streamtest.NewReplay(counts(n / 2))
	held.Hold = true
	buildGroupSum(p, par, held, &listSink{failAt: 3})
	require.ErrorIs(t, p.Run(context.Background()), errCrash)
}

func TestCheckpointRestoresAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	const n = 2000
	ref := &listSink{}
	p := stream.New()
	buildGroupSum(p, 2, streamtest.NewReplay(counts(n)), ref)
	require.NoError(t, p.Run(context.Background()))
	want := slices.Sorted(slices.Values(ref.vals))

	for _, c := range []struct{ from, to int }{{2, 1}, {2, 3}, {1, 4}, {3, 2}, {2, 2}} {
		t.Run(fmt.Sprintf("%d->%d", c.from, c.to), func(t *testing.T) {
			t.Parallel()
			store, err := stream.NewDirStore(t.TempDir())
			require.NoError(t, err)
			crashAt(t, store, c.from, n, stream.WithMaxParallelism(16))
			out := &listSink{}
			p2 := stream.New(stream.WithCheckpoints(store, time.Hour), stream.WithMaxParallelism(16))
			buildGroupSum(p2, c.to, streamtest.NewReplay(counts(n)), out)
			require.NoError(t, p2.Run(context.Background()))
			assert.Equal(t, want, slices.Sorted(slices.Values(out.vals)))
		})
	}
}

func TestRestoreRefusesAnotherMaxParallelism(t *testing.T) {
	t.Parallel()
	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	crashAt(t, store, 2, 400, stream.WithMaxParallelism(16))
	p := stream.New(stream.WithCheckpoints(store, time.Hour), stream.WithMaxParallelism(32))
	buildGroupSum(p, 2, streamtest.NewReplay(counts(400)), &listSink{})
	err = p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	assert.Contains(t, err.Error(), "max parallelism 16")
}

func TestRestoreRefusesInstanceStateAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
	held := streamtest.NewReplay(counts(400))
	held.Hold = true
	buildSum(p1, held, &listSink{failAt: 2}) // sumOp: a plain Snapshotter at parallelism 2
	require.ErrorIs(t, p1.Run(context.Background()), errCrash)

	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	s := stream.From(p2, streamtest.NewReplay(counts(400)), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	k := stream.KeyBy(s, func(v int64) int64 { return v % 5 }, stream.Parallelism(3))
	sums := stream.Apply(k.Stream, func() stream.Operator[int64, string] { return &sumOp{sums: map[int64]int64{}} }, stream.Name("sum"))
	stream.To(sums, &listSink{}, stream.Name("list"))
	err = p2.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	assert.Contains(t, err.Error(), "cannot be restored at parallelism 3")
}
