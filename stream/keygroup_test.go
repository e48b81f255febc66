package stream_test

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

func TestKeyGroupRangesPartitionTheGroups(t *testing.T) {
	t.Parallel()
	for _, maxPar := range []int{1, 2, 7, 128, 1000} {
		for p := 1; p <= min(maxPar, 40); p++ {
			next := 0
			for i := range p {
				r := stream.KeyGroupRangeOf(i, p, maxPar)
				require.Equal(t, next, r.Start, "max %d p %d instance %d", maxPar, p, i)
				require.GreaterOrEqual(t, r.End, r.Start)
				for g := r.Start; g < r.End; g++ {
					require.Equal(t, i, stream.InstanceOf(g, p, maxPar), "max %d p %d group %d", maxPar, p, g)
				}
				// Ranges are as even as integers allow.
				assert.LessOrEqual(t, r.Len(), maxPar/p+1)
				assert.GreaterOrEqual(t, r.Len(), maxPar/p)
				next = r.End
			}
			require.Equal(t, maxPar, next, "max %d p %d: groups not covered", maxPar, p)
		}
	}
}

// The hashes are part of the checkpoint format: a key must land in the same
// key group in every process, run and version. These values were computed
// once; a change here breaks every stored checkpoint.
func TestStableHashIsFixed(t *testing.T) {
	t.Parallel()
	hs, err := stream.StableHash[string]()
	require.NoError(t, err)
	hi, err := stream.StableHash[int64]()
	require.NoError(t, err)
	type pair struct {
		A string
		B int32
	}
	hp, err := stream.StableHash[pair]()
	require.NoError(t, err)
	assert.Equal(t, uint64(0x93b51b234a55bf37), hs("track-42"))
	assert.Equal(t, uint64(0x0), hi(0))
	assert.Equal(t, uint64(0x5692161d100b05e5), hi(1))
	assert.Equal(t, uint64(0x2a4d7d951738f146), hp(pair{"a", 7}))
	assert.Equal(t, 73, stream.KeyGroupOf(hs("track-42"), 128))
}

type withBlank struct {
	A int
	_ int
	F float64
}

type ptrKey struct{ P *int }

type customKey struct {
	ID  int
	Ref *int // not part of the identity used for routing
}

func (k customKey) StableHash() uint64 { return uint64(k.ID) * 0x9e3779b97f4a7c15 }

func TestStableHashOfCompositeKeys(t *testing.T) {
	t.Parallel()
	h, err := stream.StableHash[withBlank]()
	require.NoError(t, err)
	assert.Equal(t, h(withBlank{A: 1, F: 0}), h(withBlank{A: 1, F: math.Copysign(0, -1)}), "+0 and -0 are ==")
	assert.NotEqual(t, h(withBlank{A: 1}), h(withBlank{A: 2}))

	ha, err := stream.StableHash[[3]uint16]()
	require.NoError(t, err)
	assert.NotEqual(t, ha([3]uint16{1, 2, 3}), ha([3]uint16{3, 2, 1}))

	_, err = stream.StableHash[*int]()
	assert.ErrorIs(t, err, stream.ErrInvalid)
	_, err = stream.StableHash[ptrKey]()
	assert.ErrorIs(t, err, stream.ErrInvalid)
	_, err = stream.StableHash[any]()
	assert.ErrorIs(t, err, stream.ErrInvalid)

	hc, err := stream.StableHash[customKey]()
	require.NoError(t, err)
	x, y := 1, 2
	assert.Equal(t, hc(customKey{ID: 5, Ref: &x}), hc(customKey{ID: 5, Ref: &y}))
}

func TestKeyByRefusesKeysWithoutStableHash(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(2))
	s := stream.From(p, stream.Slice([]int{1, 2}))
	x := 1
	stream.To(stream.KeyBy(s, func(int) *int { return &x }).Stream, stream.Discard[int]())
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}

func TestMaxParallelismIsValidated(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []stream.Option
		par  int // KeyBy's parallelism; 0: the pipeline's
		ok   bool
	}{
		{"default", nil, 4, true},
		{"equal", []stream.Option{stream.WithMaxParallelism(4)}, 4, true},
		{"exchange above max", []stream.Option{stream.WithMaxParallelism(4)}, 5, false},
		{"pipeline above max", []stream.Option{stream.WithMaxParallelism(4), stream.WithParallelism(5)}, 0, false},
		{"zero max", []stream.Option{stream.WithMaxParallelism(0)}, 1, false},
		{"huge max", []stream.Option{stream.WithMaxParallelism(stream.MaxKeyGroups + 1)}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := stream.New(c.opts...)
			s := stream.From(p, stream.Slice([]int{1, 2, 3}))
			var opts []stream.ExchangeOption
			if c.par > 0 {
				opts = append(opts, stream.Parallelism(c.par))
			}
			stream.To(stream.KeyBy(s, func(v int) int { return v }, opts...).Stream, stream.Discard[int]())
			err := p.Run(context.Background())
			if c.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, stream.ErrInvalid)
			}
		})
	}
}

// groupCheck asserts that every record it gets has a key in its instance's
// key groups.
type groupCheck struct {
	group func(string) int
	c     *stream.Context
}

func (g *groupCheck) Open(c *stream.Context) error { g.c = c; return nil }

func (g *groupCheck) ProcessRecord(r stream.Record[string], out stream.Emitter[string]) error {
	kg := g.group(r.Value)
	if !g.c.KeyGroups().Contains(kg) {
		return fmt.Errorf("key %q of group %d at instance %d owning %v", r.Value, kg, g.c.Instance(), g.c.KeyGroups())
	}
	return out.Emit(r)
}

func (g *groupCheck) ProcessWatermark(stream.Time, stream.Emitter[string]) error { return nil }

func TestKeyByRoutesByKeyGroup(t *testing.T) {
	t.Parallel()
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	for _, maxPar := range []int{3, 16, 128} {
		for _, par := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("max=%d/par=%d", maxPar, par), func(t *testing.T) {
				t.Parallel()
				p := stream.New(stream.WithMaxParallelism(maxPar))
				s := stream.From(p, stream.Slice(keys))
				k := stream.KeyBy(s, func(v string) string { return v }, stream.Parallelism(par))
				group := k.KeyGroup()
				checked := stream.Apply(k.Stream, func() stream.Operator[string, string] {
					return &groupCheck{group: group}
				}, stream.Name("check"))
				sink := stream.Collect[string]()
				stream.To(checked, sink)
				require.NoError(t, p.Run(context.Background()))
				assert.Len(t, sink.Values(), len(keys))
			})
		}
	}
}

func TestConnectRoutesByKeyGroup(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithMaxParallelism(8))
	a := stream.From(p, stream.Slice([]string{"x", "y", "z", "w"}))
	b := stream.From(p, stream.Slice([]int{1, 2, 3}))
	ks := stream.Connect(a, b, func(s string) string { return s }, func(n int) string { return fmt.Sprint("k", n) }, stream.Parallelism(3))
	group := ks.KeyGroup()
	out := stream.Apply(ks.Stream, func() stream.Operator[stream.Either[string, int], string] {
		return &eitherCheck{key: ks.Key, group: group}
	}, stream.Name("check"))
	sink := stream.Collect[string]()
	stream.To(out, sink)
	require.NoError(t, p.Run(context.Background()))
	assert.Len(t, sink.Values(), 7)
}

type eitherCheck struct {
	key   func(stream.Either[string, int]) string
	group func(string) int
	c     *stream.Context
}

func (e *eitherCheck) Open(c *stream.Context) error { e.c = c; return nil }

func (e *eitherCheck) ProcessRecord(r stream.Record[stream.Either[string, int]], out stream.Emitter[string]) error {
	k := e.key(r.Value)
	if !e.c.KeyGroups().Contains(e.group(k)) {
		return fmt.Errorf("key %q at instance %d owning %v", k, e.c.Instance(), e.c.KeyGroups())
	}
	return out.Emit(stream.Record[string]{Time: r.Time, Value: k})
}

func (e *eitherCheck) ProcessWatermark(stream.Time, stream.Emitter[string]) error { return nil }

// TestKeyGroupIsTheStableHashsGroup: KeyedStream.KeyGroup (with its hashes
// inlined for the common key kinds) gives KeyGroupOf(StableHash(k)).
func TestKeyGroupIsTheStableHashsGroup(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, group func(int64) int, hash func(int64) uint64, keys []int64) {
		for _, k := range keys {
			require.Equal(t, stream.KeyGroupOf(hash(k), 100), group(k), "key %d", k)
		}
	}
	keys := []int64{0, 1, -1, 42, math.MaxInt64, math.MinInt64, 1 << 40}
	t.Run("int64", func(t *testing.T) {
		p := stream.New(stream.WithMaxParallelism(100))
		k := stream.KeyBy(stream.From(p, stream.Slice(keys)), func(v int64) int64 { return v })
		h, err := stream.StableHash[int64]()
		require.NoError(t, err)
		check(t, k.KeyGroup(), h, keys)
	})
	t.Run("uint32", func(t *testing.T) {
		p := stream.New(stream.WithMaxParallelism(100))
		k := stream.KeyBy(stream.From(p, stream.Slice(keys)), func(v int64) uint32 { return uint32(v) })
		h, err := stream.StableHash[uint32]()
		require.NoError(t, err)
		g := k.KeyGroup()
		check(t, func(v int64) int { return g(uint32(v)) }, func(v int64) uint64 { return h(uint32(v)) }, keys)
	})
	t.Run("string", func(t *testing.T) {
		p := stream.New(stream.WithMaxParallelism(100))
		k := stream.KeyBy(stream.From(p, stream.Slice(keys)), func(v int64) string { return fmt.Sprint(v) })
		h, err := stream.StableHash[string]()
		require.NoError(t, err)
		g := k.KeyGroup()
		check(t, func(v int64) int { return g(fmt.Sprint(v)) }, func(v int64) uint64 { return h(fmt.Sprint(v)) }, keys)
	})
	t.Run("struct", func(t *testing.T) {
		type pair struct{ A, B int64 }
		p := stream.New(stream.WithMaxParallelism(100))
		k := stream.KeyBy(stream.From(p, stream.Slice(keys)), func(v int64) pair { return pair{v, -v} })
		h, err := stream.StableHash[pair]()
		require.NoError(t, err)
		g := k.KeyGroup()
		check(t, func(v int64) int { return g(pair{v, -v}) }, func(v int64) uint64 { return h(pair{v, -v}) }, keys)
	})
}

// TestStableHashOfIntIsItsValues: int, uint and uintptr keys hash as the
// 64-bit integers of the same value, whatever the platform's word size, so
// a key's group is the same on every platform.
func TestStableHashOfIntIsItsValues(t *testing.T) {
	t.Parallel()
	hi, err := stream.StableHash[int]()
	require.NoError(t, err)
	hi64, err := stream.StableHash[int64]()
	require.NoError(t, err)
	hu, err := stream.StableHash[uint]()
	require.NoError(t, err)
	hp, err := stream.StableHash[uintptr]()
	require.NoError(t, err)
	hu64, err := stream.StableHash[uint64]()
	require.NoError(t, err)
	for _, v := range []int{0, 1, -1, 42, -123456, math.MaxInt32, math.MinInt32} {
		assert.Equal(t, hi64(int64(v)), hi(v), "int %d", v)
		p := stream.New()
		k := stream.KeyBy(stream.From(p, stream.Slice([]int{v})), func(x int) int { return x })
		assert.Equal(t, stream.KeyGroupOf(hi64(int64(v)), 128), k.KeyGroup()(v), "group of int %d", v)
	}
	type withInt struct {
		A int
		B string
	}
	type withInt64 struct {
		A int64
		B string
	}
	hs, err := stream.StableHash[withInt]()
	require.NoError(t, err)
	hs64, err := stream.StableHash[withInt64]()
	require.NoError(t, err)
	for _, v := range []int{0, -1, math.MinInt32, math.MaxInt32} {
		assert.Equal(t, hs64(withInt64{int64(v), "x"}), hs(withInt{v, "x"}), "struct with int %d", v)
	}
	for _, v := range []uint{0, 1, 42, math.MaxUint32} {
		assert.Equal(t, hu64(uint64(v)), hu(v), "uint %d", v)
		assert.Equal(t, hu64(uint64(v)), hp(uintptr(v)), "uintptr %d", v)
	}
}

// TestKeyByCallsKeyOnlyToRoute: the exchange runs the key function to route
// a record only when there is more than one instance; with one, the keyed
// operator after it is the first (and only) caller, and every record still
// reaches its key. (A whole batch into one instance is never keyed.)
func TestKeyByCallsKeyOnlyToRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ par, callsPerRecord int }{{1, 1}, {2, 2}} {
		t.Run(fmt.Sprintf("par=%d", tc.par), func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			p := stream.New()
			s := stream.From(p, stream.Slice(ints(500)))
			// A user operator hands records on one at a time.
			s = stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
				return out.Emit(r)
			}).Stream
			k := stream.KeyBy(s, func(v int64) int64 { calls.Add(1); return v % 7 }, stream.Parallelism(tc.par))
			sums := stream.KeyedProcess(k, func(*stream.KeyedStates) stream.KeyedFuncs[int64, int64, string] {
				return stream.KeyedFuncs[int64, int64, string]{
					Process: func(c *stream.KeyedContext[int64], r stream.Record[int64], out stream.Emitter[string]) error {
						if c.Key() != r.Value%7 {
							return fmt.Errorf("record %d under key %d", r.Value, c.Key())
						}
						return out.Emit(stream.Record[string]{Time: r.Time, Value: fmt.Sprint(c.Key())})
					},
				}
			})
			sink := stream.Collect[string]()
			stream.To(sums, sink)
			require.NoError(t, p.Run(context.Background()))
			assert.Len(t, sink.Values(), 500)
			assert.Equal(t, int64(500*tc.callsPerRecord), calls.Load())
		})
	}
}
