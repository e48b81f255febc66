package window

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

type pairKey struct {
	A string
	B int16
}

// checkPaneIndex fills panes with random keys of a type, as the pane store
// does (find, insert if missing), across growth, retirement (reset) and
// reuse, and checks every find against a map.
func checkPaneIndex[K comparable](t *testing.T, key func(int) K) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	hs := newKeyHasher[K]()
	p := &pane[K, int64]{}
	for round := range 30 {
		keys := 1 + rng.IntN([]int{5, 40, 3000}[round%3])
		want := map[K]int32{}
		for range 4 * keys {
			k := key(rng.IntN(keys))
			var h uint64
			if p.indexed() {
				h = hs.of(k)
			}
			i, pos := p.find(k, h)
			j, ok := want[k]
			require.Equal(t, ok, i >= 0, "round %d: key %v found", round, k)
			if !ok {
				j = p.insert(k, h, pos, 0, &hs)
				want[k] = j
				i = j
			}
			require.Equal(t, j, i, "round %d: slot of %v", round, k)
			require.Equal(t, k, p.slots[i].key)
			p.slots[i].acc++
		}
		require.Len(t, p.slots, len(want))
		if p.indexed() {
			require.Equal(t, len(want), p.index.n)
			require.LessOrEqual(t, 2*p.index.n, len(p.index.ents), "at most half full")
		}
		// Retire the pane for reuse, as paneStore.retire does.
		clear(p.slots)
		p.slots = p.slots[:0]
		p.index.reset()
	}
}

func TestPaneIndex(t *testing.T) {
	t.Parallel()
	t.Run("int", func(t *testing.T) { checkPaneIndex(t, func(i int) int { return i * 7919 }) })
	t.Run("uint32", func(t *testing.T) { checkPaneIndex(t, func(i int) uint32 { return uint32(i) << 20 }) })
	t.Run("string", func(t *testing.T) { checkPaneIndex(t, func(i int) string { return "track-" + strconv.Itoa(i) }) })
	t.Run("struct", func(t *testing.T) {
		checkPaneIndex(t, func(i int) pairKey { return pairKey{A: fmt.Sprint(i % 50), B: int16(i / 50)} })
	})
	t.Run("float", func(t *testing.T) { checkPaneIndex(t, func(i int) float64 { return float64(i) / 4 }) })
}
