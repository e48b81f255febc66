package sketch

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkTopK verifies the internal structure of t and the Space-Saving
// guarantees against the exact counts of everything added to it.
func checkTopK(t *testing.T, tk *TopK, exact map[string]uint64) {
	t.Helper()
	// Structure: order sorted by count descending, buckets are maximal runs,
	// index, slots and order agree.
	require.Equal(t, len(tk.order), len(tk.index), "index size")
	require.LessOrEqual(t, len(tk.order), tk.Capacity())
	var sum uint64
	for pos, s := range tk.order {
		sl := tk.slots[s]
		require.Equal(t, int32(pos), sl.pos, "slot %d position", s)
		require.Equal(t, s, tk.index[sl.key], "index of %q", sl.key)
		bk := tk.buckets[sl.bucket]
		require.True(t, bk.first <= int32(pos) && int32(pos) <= bk.last, "position %d outside its bucket %+v", pos, bk)
		if pos > 0 {
			prev := tk.slots[tk.order[pos-1]]
			pc := tk.buckets[prev.bucket].count
			require.GreaterOrEqual(t, pc, bk.count, "order not descending at %d", pos)
			require.Equal(t, pc == bk.count, prev.bucket == sl.bucket, "bucket not maximal at %d", pos)
		}
		sum += bk.count
	}
	// Guarantees.
	var n uint64
	for _, f := range exact {
		n += f
	}
	require.Equal(t, n, tk.N(), "N")
	require.LessOrEqual(t, sum, n, "Σcount <= N")
	bound := tk.Bound()
	require.LessOrEqual(t, bound*uint64(tk.Capacity()), n, "Bound <= N/c")
	for key, f := range exact {
		c, e, tracked := tk.Count(key)
		if tracked {
			require.LessOrEqual(t, f, c, "%q: true count %d above its Count", key, f)
			require.LessOrEqual(t, c-e, f, "%q: Count-Err %d above its true count %d", key, c-e, f)
			require.LessOrEqual(t, e, bound, "%q: Err above Bound", key)
		} else {
			require.LessOrEqual(t, f, bound, "%q untracked with count %d above Bound", key, f)
		}
	}
}

// exactTop returns the k largest keys of counts (ties by key).
func exactTop(counts map[string]uint64, k int) []string {
	type kv struct {
		k string
		v uint64
	}
	all := make([]kv, 0, len(counts))
	for k, v := range counts {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.v, a.v); c != 0 {
			return c
		}
		return cmp.Compare(a.k, b.k)
	})
	out := make([]string, 0, k)
	for _, e := range all[:min(k, len(all))] {
		out = append(out, e.k)
	}
	return out
}

func keysOf(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

// TestTopKZipf: the top 10 of 1M Zipf(1.1) events, with capacity 1000, from
// one sketch and from four merged shards.
func TestTopKZipf(t *testing.T) {
	t.Parallel()
	const (
		events   = 1_000_000
		capacity = 1000
		vocab    = 1_000_000
	)
	r := rand.New(rand.NewPCG(42, 1))
	z := rand.NewZipf(r, 1.1, 1, vocab-1)
	keys := make([]string, events)
	exact := make(map[string]uint64)
	for i := range keys {
		keys[i] = strconv.FormatUint(z.Uint64(), 10)
		exact[keys[i]]++
	}
	want := exactTop(exact, 10)

	whole, err := NewTopK(capacity)
	require.NoError(t, err)
	shards := make([]*TopK, 4)
	for i := range shards {
		shards[i], err = NewTopK(capacity)
		require.NoError(t, err)
	}
	for i, k := range keys {
		whole.Add(k)
		shards[i%len(shards)].Add(k)
	}
	merged := shards[0]
	for _, s := range shards[1:] {
		require.NoError(t, merged.Merge(s))
	}
	for name, tk := range map[string]*TopK{"single": whole, "merged": merged} {
		top := tk.Top(10)
		assert.Equal(t, want, keysOf(top), "%s: top 10", name)
		for _, it := range top {
			f := exact[it.Key]
			assert.True(t, it.Count-it.Err <= f && f <= it.Count, "%s: %q true %d not in [%d, %d]", name, it.Key, f, it.Count-it.Err, it.Count)
		}
		t.Logf("%s: N=%d Bound=%d (N/c=%d), top: %v", name, tk.N(), tk.Bound(), tk.N()/capacity, top[:3])
		checkTopK(t, tk, exact)
	}
}

// TestTopKProperties checks the guarantees against brute force on many
// small random streams, with weighted adds and random merge trees.
func TestTopKProperties(t *testing.T) {
	t.Parallel()
	iterations := 300
	if testing.Short() {
		iterations = 60
	}
	for it := range iterations {
		r := rand.New(rand.NewPCG(uint64(it), 7))
		capacity := 1 + r.IntN(12)
		alphabet := 1 + r.IntN(40)
		parts := 1 + r.IntN(5)
		sketches := make([]*TopK, parts)
		exacts := make([]map[string]uint64, parts)
		for p := range parts {
			var err error
			sketches[p], err = NewTopK(capacity)
			require.NoError(t, err)
			exacts[p] = map[string]uint64{}
			events := r.IntN(300)
			for range events {
				// Skewed keys: small indexes are frequent.
				k := "k" + strconv.Itoa(int(float64(alphabet)*r.Float64()*r.Float64()))
				n := uint64(1)
				if r.IntN(4) == 0 {
					n = uint64(r.IntN(20)) // weighted, sometimes 0
				}
				if n == 1 && r.IntN(2) == 0 {
					sketches[p].AddBytes([]byte(k))
				} else {
					sketches[p].AddN(k, n)
				}
				if n > 0 {
					exacts[p][k] += n
				}
			}
			checkTopK(t, sketches[p], exacts[p])
		}
		// Merge in random order until one is left.
		for len(sketches) > 1 {
			i, j := r.IntN(len(sketches)), r.IntN(len(sketches)-1)
			if j >= i {
				j++
			}
			require.NoError(t, sketches[i].Merge(sketches[j]))
			for k, v := range exacts[j] {
				exacts[i][k] += v
			}
			checkTopK(t, sketches[i], exacts[i])
			sketches = slices.Delete(sketches, j, j+1)
			exacts = slices.Delete(exacts, j, j+1)
		}
		// Keep adding after the merges: the bounds still hold.
		for range 100 {
			k := "k" + strconv.Itoa(r.IntN(alphabet+5))
			sketches[0].Add(k)
			exacts[0][k]++
		}
		checkTopK(t, sketches[0], exacts[0])
		// Self merge doubles.
		before := sketches[0].Top(0)
		require.NoError(t, sketches[0].Merge(sketches[0]))
		for k := range exacts[0] {
			exacts[0][k] *= 2
		}
		checkTopK(t, sketches[0], exacts[0])
		if len(before) < capacity {
			for _, b := range before {
				c, e, ok := sketches[0].Count(b.Key)
				require.True(t, ok)
				require.Equal(t, 2*b.Count, c)
				require.Equal(t, 2*b.Err, e)
			}
		}
	}
}

func TestTopKExactBelowCapacity(t *testing.T) {
	t.Parallel()
	tk, err := NewTopK(5)
	require.NoError(t, err)
	for i, k := range []string{"b", "a", "c", "a", "b", "a", "d"} {
		tk.Add(k)
		_ = i
	}
	assert.Equal(t, []Item{{"a", 3, 0}, {"b", 2, 0}, {"c", 1, 0}, {"d", 1, 0}}, tk.Top(0))
	assert.Equal(t, []Item{{"a", 3, 0}, {"b", 2, 0}, {"c", 1, 0}}, tk.Top(3), "ties broken by key")
	assert.Equal(t, uint64(0), tk.Bound())
	// Fill up and evict: "e" fills the last counter, "f" takes over a
	// counter of count 1 and inherits it as its error.
	tk.Add("e")
	tk.Add("f")
	c, e, ok := tk.Count("f")
	assert.True(t, ok)
	assert.Equal(t, uint64(2), c)
	assert.Equal(t, uint64(1), e)
	assert.Equal(t, 5, tk.Len())
	assert.Equal(t, uint64(9), tk.N())
}

func TestTopKZeroValueAndReset(t *testing.T) {
	t.Parallel()
	var tk TopK
	assert.Equal(t, DefaultTopKCapacity, tk.Capacity())
	assert.Nil(t, tk.Top(3))
	tk.Add("x")
	tk.AddN("y", 5)
	assert.Equal(t, []Item{{"y", 5, 0}, {"x", 1, 0}}, tk.Top(0))
	tk.Reset()
	assert.Equal(t, 0, tk.Len())
	assert.Equal(t, uint64(0), tk.N())
	tk.Add("z")
	assert.Equal(t, []Item{{"z", 1, 0}}, tk.Top(0))

	_, err := NewTopK(0)
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewTopK(MaxTopKCapacity + 1)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestTopKMergeErrors(t *testing.T) {
	t.Parallel()
	a, _ := NewTopK(3)
	b, _ := NewTopK(4)
	a.Add("x")
	b.Add("x")
	require.ErrorIs(t, a.Merge(b), ErrIncompatible)
	require.NoError(t, a.Merge(nil))
	c, _ := NewTopK(3)
	c.AddN("x", ^uint64(0))
	require.Error(t, a.Merge(c), "N overflows")
	assert.Equal(t, []Item{{"x", 1, 0}}, a.Top(0), "a unchanged")

	clone := c.Clone()
	clone.Add("other")
	assert.Equal(t, 1, c.Len(), "Clone is independent")
}

func TestTopKRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	for _, capacity := range []int{1, 7, 100} {
		for _, events := range []int{0, 5, 5000} {
			t.Run(fmt.Sprintf("c=%d/n=%d", capacity, events), func(t *testing.T) {
				tk, err := NewTopK(capacity)
				require.NoError(t, err)
				for range events {
					tk.Add("key/" + strconv.Itoa(r.IntN(50)))
				}
				data := mustMarshal(t, tk)
				var got TopK
				require.NoError(t, got.UnmarshalBinary(data))
				assert.Equal(t, tk.Capacity(), got.Capacity())
				assert.Equal(t, tk.N(), got.N())
				assert.Equal(t, tk.Bound(), got.Bound())
				assert.Equal(t, tk.Top(0), got.Top(0))
				assert.Equal(t, data, mustMarshal(t, &got), "the encoding is canonical")
				// The decoded sketch keeps working like the original.
				for i := range 200 {
					k := "more/" + strconv.Itoa(i%13)
					tk.Add(k)
					got.Add(k)
				}
				assert.Equal(t, tk.Top(0), got.Top(0))
			})
		}
	}
}

func TestTopKUnmarshalRejects(t *testing.T) {
	t.Parallel()
	enc := func(capacity, n uint64, items ...Item) []byte {
		b := append([]byte(nil), topKMagic[:]...)
		b = appendUvarints(b, capacity, n, uint64(len(items)))
		for _, it := range items {
			b = appendUvarints(b, uint64(len(it.Key)))
			b = append(b, it.Key...)
			b = appendUvarints(b, it.Count, it.Err)
		}
		return b
	}
	valid := enc(2, 5, Item{"a", 3, 0}, Item{"b", 2, 0})
	var probe TopK
	require.NoError(t, probe.UnmarshalBinary(valid), "the hand-made encoding is valid")
	cases := map[string][]byte{
		"empty":            nil,
		"bad magic":        []byte("XTK\x01\x02\x05\x00"),
		"truncated":        valid[:len(valid)-1],
		"trailing":         append(append([]byte(nil), valid...), 0),
		"capacity 0":       enc(0, 0),
		"capacity huge":    enc(MaxTopKCapacity+1, 0),
		"more than cap":    enc(1, 5, Item{"a", 3, 0}, Item{"b", 2, 0}),
		"huge key count":   append(append([]byte(nil), topKMagic[:]...), 0x02, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"huge key length":  append(append([]byte(nil), topKMagic[:]...), 0x02, 0x05, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0),
		"duplicate":        enc(2, 5, Item{"a", 3, 0}, Item{"a", 2, 0}),
		"zero count":       enc(2, 5, Item{"a", 0, 0}),
		"err above count":  enc(2, 5, Item{"a", 1, 2}),
		"sum above N":      enc(2, 4, Item{"a", 3, 0}, Item{"b", 2, 0}),
		"err while unfull": enc(3, 5, Item{"a", 3, 1}),
		"err above bound":  enc(2, 9, Item{"a", 7, 3}, Item{"b", 2, 0}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			tk, _ := NewTopK(3)
			tk.Add("keep")
			require.ErrorIs(t, tk.UnmarshalBinary(data), ErrCorrupt)
			assert.Equal(t, []Item{{"keep", 1, 0}}, tk.Top(0), "unchanged")
			assert.Equal(t, 3, tk.Capacity())
		})
	}
}

func appendUvarints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		b = append(b, byte(v))
	}
	return b
}
