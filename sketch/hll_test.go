package sketch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/axiomhq/hyperloglog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hllStdErr is HyperLogLog's relative standard error 1.04/√m.
func hllStdErr(p uint8) float64 { return 1.04 / math.Sqrt(float64(uint64(1)<<p)) }

// TestHLLAccuracy measures the RMSE of the relative error over many seeds
// against the theoretical 1.04/√m, for n from 100 to 1,000,000.
func TestHLLAccuracy(t *testing.T) {
	t.Parallel()
	sizes := []int{100, 1_000, 10_000, 100_000, 1_000_000}
	seeds := 20
	if testing.Short() {
		sizes = []int{100, 1_000, 10_000, 100_000}
	}
	type keyKind int
	const (
		uint64Keys keyKind = iota
		stringKeys
	)
	cases := []struct {
		name   string
		p      uint8
		sparse bool
		kind   keyKind
		maxN   int
	}{
		{"p14/sparse/uint64", 14, true, uint64Keys, 1_000_000},
		{"p14/dense/strings", 14, false, stringKeys, 100_000},
		{"p12/sparse/strings", 12, true, stringKeys, 100_000},
		{"p16/dense/uint64", 16, false, uint64Keys, 100_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bound := 1.5 * hllStdErr(tc.p)
			for _, n := range sizes {
				if n > tc.maxN {
					continue
				}
				var sumSq float64
				var buf []byte
				for seed := range seeds {
					h, err := NewHLL(WithPrecision(tc.p), WithSparse(tc.sparse))
					require.NoError(t, err)
					r := rand.New(rand.NewPCG(uint64(seed), uint64(n)))
					for i := range n {
						switch tc.kind {
						case uint64Keys:
							// Random 64-bit keys: collisions among 10^6 are
							// negligible (≈ n²/2^65).
							h.AddUint64(r.Uint64())
						case stringKeys:
							buf = strconv.AppendInt(append(buf[:0], "user-"...), int64(seed)<<32|int64(i), 36)
							h.AddBytes(buf)
						}
					}
					rel := (float64(h.Estimate()) - float64(n)) / float64(n)
					sumSq += rel * rel
				}
				rmse := math.Sqrt(sumSq / float64(seeds))
				t.Logf("%s n=%d: RMSE %.4f%% over %d seeds (bound %.4f%%)", tc.name, n, 100*rmse, seeds, 100*bound)
				assert.LessOrEqual(t, rmse, bound, "n=%d", n)
			}
		})
	}
}

// TestHLLSequentialIntegers guards against feeding raw integers to the
// register index: a million consecutive ids must estimate about a million.
func TestHLLSequentialIntegers(t *testing.T) {
	t.Parallel()
	for _, sparse := range []bool{true, false} {
		h, err := NewHLL(WithSparse(sparse))
		require.NoError(t, err)
		const n = 1_000_000
		for i := range uint64(n) {
			h.AddUint64(i)
		}
		assert.InEpsilon(t, n, h.Estimate(), 4*hllStdErr(14), "sparse=%v", sparse)
	}
}

// TestHLLSmallSetsExact checks that the sparse representation counts small
// sets exactly, which the examples rely on.
func TestHLLSmallSetsExact(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 10, 100, 1000, 1024} {
		var h HLL // zero value: precision 14, sparse
		for i := range n {
			h.AddString("k" + strconv.Itoa(i))
			h.AddString("k" + strconv.Itoa(i)) // duplicates do not count
		}
		assert.Equal(t, uint64(n), h.Estimate(), "n=%d", n)
		if n > 0 {
			assert.NotNil(t, h.small.slots, "still sparse at n=%d", n)
		}
	}
	var h HLL
	for i := range 1025 {
		h.AddUint64(uint64(i))
	}
	assert.Nil(t, h.small.slots, "dense past 2^p/16 keys")
	assert.InEpsilon(t, 1025, h.Estimate(), 3*hllStdErr(14))
	h.AddHash(0) // the zero hash is a key like any other
	var z HLL
	z.AddHash(0)
	z.AddHash(0)
	z.AddHash(1)
	assert.Equal(t, uint64(2), z.Estimate())
}

func TestHLLKeyKinds(t *testing.T) {
	t.Parallel()
	a, b := &HLL{}, &HLL{}
	for i := range 5000 {
		s := "listener-" + strconv.Itoa(i)
		a.AddString(s)
		b.AddBytes([]byte(s))
	}
	assert.Equal(t, a.Estimate(), b.Estimate(), "AddString and AddBytes hash alike")

	c, d := &HLL{}, &HLL{}
	for i := range int64(5000) {
		c.AddInt64(-i)
		d.AddUint64(uint64(-i))
	}
	assert.Equal(t, c.Estimate(), d.Estimate(), "AddInt64(x) == AddUint64(uint64(x))")
}

// TestHLLMatchesLibraryInsert checks that AddBytes uses the same hash as
// axiomhq's Insert, so our sketches and plain library sketches merge.
func TestHLLMatchesLibraryInsert(t *testing.T) {
	t.Parallel()
	h, err := NewHLL(WithSparse(false))
	require.NoError(t, err)
	lib := hyperloglog.NewNoSparse()
	for i := range 50_000 {
		k := []byte("track-" + strconv.Itoa(i))
		h.AddBytes(k)
		lib.Insert(k)
	}
	ours, err := h.MarshalBinary()
	require.NoError(t, err)
	theirs, err := lib.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, theirs, ours, "dense registers differ")
}

// TestHLLMergeEqualsUnion: merging sketches of overlapping parts gives
// exactly the sketch of the union.
func TestHLLMergeEqualsUnion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		n      int
		sparse bool
	}{
		{"sparse/exact", 900, true},
		{"sparse/turns-dense", 3_000, true},
		{"sparse/large", 200_000, true},
		{"dense", 200_000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []HLLOption{WithSparse(tc.sparse)}
			whole, a, b, c := mustHLL(t, opts...), mustHLL(t, opts...), mustHLL(t, opts...), mustHLL(t, opts...)
			for i := range tc.n {
				k := uint64(i) * 7919
				whole.AddUint64(k)
				switch {
				case i < tc.n/3:
					a.AddUint64(k)
				case i < 2*tc.n/3:
					a.AddUint64(k) // overlap between a and b
					b.AddUint64(k)
				default:
					c.AddUint64(k)
				}
			}
			ab := a.Clone()
			require.NoError(t, ab.Merge(b))
			require.NoError(t, ab.Merge(c))
			cb := c.Clone()
			require.NoError(t, cb.Merge(b))
			require.NoError(t, cb.Merge(a))
			assert.Equal(t, whole.Estimate(), ab.Estimate(), "a∪b∪c")
			assert.Equal(t, whole.Estimate(), cb.Estimate(), "c∪b∪a")
			// Both encodings are canonical (the sorted hashes or the
			// registers): compare them exactly.
			assert.Equal(t, mustMarshal(t, whole), mustMarshal(t, ab))
			assert.Equal(t, mustMarshal(t, whole), mustMarshal(t, cb))
			// Into a new sketch, and into one emptied by Reset: the first
			// merge copies a's set, which must not share a's slots.
			aBefore := mustMarshal(t, a)
			fresh, reset := mustHLL(t, opts...), mustHLL(t, opts...)
			reset.AddUint64(1)
			reset.Reset()
			for _, h := range []*HLL{fresh, reset} {
				require.NoError(t, h.Merge(a))
				require.NoError(t, h.Merge(b))
				require.NoError(t, h.Merge(c))
				assert.Equal(t, mustMarshal(t, whole), mustMarshal(t, h), "merged into an empty sketch")
			}
			cp := mustHLL(t, opts...)
			require.NoError(t, cp.Merge(a))
			cp.AddUint64(1) // not a key of a (they are multiples of 7919)
			assert.Equal(t, aBefore, mustMarshal(t, a), "a changed by the merges into other sketches")
			// Merging through the wire gives the same.
			var wa, wb, wc HLL
			require.NoError(t, wa.UnmarshalBinary(mustMarshal(t, a)))
			require.NoError(t, wb.UnmarshalBinary(mustMarshal(t, b)))
			require.NoError(t, wc.UnmarshalBinary(mustMarshal(t, c)))
			require.NoError(t, wa.Merge(&wb))
			require.NoError(t, wa.Merge(&wc))
			assert.Equal(t, whole.Estimate(), wa.Estimate(), "merged after a round trip")
		})
	}
}

func TestHLLMergeEdgeCases(t *testing.T) {
	t.Parallel()
	h := mustHLL(t)
	for i := range uint64(100) {
		h.AddUint64(i)
	}
	est := h.Estimate()
	require.NoError(t, h.Merge(nil))
	require.NoError(t, h.Merge(h), "self merge")
	require.NoError(t, h.Merge(&HLL{}), "zero value")
	assert.Equal(t, est, h.Estimate())

	var z HLL
	p16 := mustHLL(t, WithPrecision(16))
	p16.AddString("x")
	require.NoError(t, z.Merge(p16), "a zero value adopts the other precision")
	assert.Equal(t, uint8(16), z.Precision())
	assert.Equal(t, uint64(1), z.Estimate())

	err := h.Merge(p16)
	require.ErrorIs(t, err, ErrIncompatible)
	assert.Equal(t, est, h.Estimate(), "a failed merge leaves h unchanged")
}

// TestHLLEstimateCache: the cached estimate follows every change.
func TestHLLEstimateCache(t *testing.T) {
	t.Parallel()
	for _, sparse := range []bool{true, false} {
		h := mustHLL(t, WithSparse(sparse))
		other := mustHLL(t, WithSparse(sparse))
		var last uint64
		for round := 1; round <= 5; round++ {
			for i := range 20_000 {
				h.AddUint64(uint64(round*1_000_000 + i))
			}
			e := h.Estimate()
			assert.Greater(t, e, last, "estimate after Add, round %d", round)
			assert.Equal(t, e, h.Estimate(), "a repeated Estimate is stable")
			last = e
		}
		for i := range 50_000 {
			other.AddUint64(uint64(99_000_000 + i))
		}
		require.NoError(t, h.Merge(other))
		assert.Greater(t, h.Estimate(), last, "estimate after Merge")
		h.Reset()
		assert.Equal(t, uint64(0), h.Estimate(), "after Reset")
	}
}

func TestHLLRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 10, 256, 257, 1_000, 100_000} {
		for _, sparse := range []bool{true, false} {
			t.Run(fmt.Sprintf("n=%d/sparse=%v", n, sparse), func(t *testing.T) {
				t.Parallel()
				h := mustHLL(t, WithPrecision(12), WithSparse(sparse))
				for i := range n {
					h.AddString(strconv.Itoa(i))
				}
				data := mustMarshal(t, h)
				var got HLL
				require.NoError(t, got.UnmarshalBinary(data))
				assert.Equal(t, uint8(12), got.Precision())
				assert.Equal(t, h.Estimate(), got.Estimate())
				// Both keep working alike.
				for i := range 500 {
					h.AddString("more" + strconv.Itoa(i))
					got.AddString("more" + strconv.Itoa(i))
				}
				assert.Equal(t, h.Estimate(), got.Estimate())
			})
		}
	}
}

func TestHLLUnmarshalRejects(t *testing.T) {
	t.Parallel()
	h := mustHLL(t)
	h.AddString("a")
	h.AddString("b")
	valid := mustMarshal(t, h)
	require.Equal(t, byte(smallMarker), valid[0])
	d := mustHLL(t, WithSparse(false))
	d.AddString("a")
	dense := mustMarshal(t, d)
	est := h.Estimate()
	swapped := append([]byte(nil), valid...)
	copy(swapped[6:], valid[14:22])
	copy(swapped[14:], valid[6:14])
	tooMany := append([]byte{smallMarker, 4, 0, 0, 0, 5}, make([]byte, 40)...)
	for i := range 5 {
		tooMany[6+8*i+7] = byte(i + 1)
	}
	cases := map[string][]byte{
		"empty":             nil,
		"truncated":         valid[:len(valid)-1],
		"short header":      valid[:5],
		"bad p":             append([]byte{valid[0], 30}, valid[2:]...),
		"trailing":          append(append([]byte(nil), valid...), 0),
		"unsorted":          swapped,
		"duplicate":         append(append([]byte{smallMarker, 14, 0, 0, 0, 2}, valid[6:14]...), valid[6:14]...),
		"too many keys":     tooMany,
		"huge count":        []byte{smallMarker, 14, 0xff, 0xff, 0xff, 0xff},
		"dense truncated":   dense[:len(dense)-1],
		"dense bad version": append([]byte{9}, dense[1:]...),
		"dense bad p":       append([]byte{dense[0], 30}, dense[2:]...),
		"dense trailing":    append(append([]byte(nil), dense...), 0),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			err := h.UnmarshalBinary(data)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Equal(t, est, h.Estimate(), "h unchanged")
		})
	}
}

func TestNewHLLOptions(t *testing.T) {
	t.Parallel()
	for _, p := range []uint8{0, 3, 19, 255} {
		_, err := NewHLL(WithPrecision(p))
		assert.ErrorIs(t, err, ErrInvalidOption, "p=%d", p)
	}
	for p := MinPrecision; p <= MaxPrecision; p++ {
		h, err := NewHLL(WithPrecision(p))
		require.NoError(t, err)
		assert.Equal(t, p, h.Precision())
	}
	var z HLL
	assert.Equal(t, DefaultPrecision, z.Precision())
	assert.Equal(t, uint64(0), z.Estimate())
	data, err := z.MarshalBinary()
	require.NoError(t, err, "a zero value marshals as an empty default sketch")
	require.NoError(t, z.UnmarshalBinary(data))
}

func mustHLL(t testing.TB, opts ...HLLOption) *HLL {
	t.Helper()
	h, err := NewHLL(opts...)
	require.NoError(t, err)
	return h
}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	require.NoError(t, err)
	return b
}
