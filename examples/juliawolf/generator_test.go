package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneratorWaveSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		events int64
		waves  []int64
	}{
		{4500, []int64{1200, 2500, 800}},
		{9000, []int64{2400, 5000, 1600}},
		{1000, []int64{266, 555, 179}},
		{1, []int64{0, 0, 1}},
		{0, []int64{0, 0, 0}},
		{100_000_000, []int64{26_666_666, 55_555_555, 17_777_779}},
	}
	for _, tc := range tests {
		g := NewGenerator(DefaultCatalog(), tc.events, 1)
		var sizes []int64
		for _, w := range g.Waves() {
			sizes = append(sizes, w.Events)
		}
		assert.Equal(t, tc.waves, sizes, "events %d", tc.events)
		assert.Equal(t, tc.events, g.Events())
	}
	names := []string{}
	for _, w := range NewGenerator(DefaultCatalog(), 10, 1).Waves() {
		names = append(names, w.Name)
	}
	assert.Equal(t, []string{"New Release Spike", "Weekend Surge", "Steady State Baseline"}, names)
}

func TestGeneratorPlays(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	g := NewGenerator(cat, DefaultEvents, DefaultSeed)
	var waveDone []int
	g.OnWaveDone = func(w Wave) { waveDone = append(waveDone, w.Number) }
	var (
		n, offline, complete, earlySkip int64
		users                           = map[string]bool{}
		platformsSeen                   = map[string]bool{}
		maxSeen                         time.Time
		outOfOrder                      int64
	)
	end := GeneratorBase.Add(47 * time.Minute)
	for p := range g.All() {
		n++
		assert.Equal(t, n, p.Line)
		assert.Equal(t, formatID("e-", n, 7), p.EventID)
		tr, ok := cat.Lookup(p.TrackID)
		require.True(t, ok, p.TrackID)
		assert.GreaterOrEqual(t, p.MsPlayed, int64(0))
		assert.Equal(t, time.UTC, p.EventTime.Location())
		assert.Zero(t, p.EventTime.Nanosecond()%int(time.Millisecond), "whole milliseconds")
		assert.True(t, p.EventTime.Before(end))
		if p.MsPlayed >= tr.DurationMs {
			complete++
		}
		if p.MsPlayed < 30000 {
			earlySkip++
		}
		users[p.UserID] = true
		platformsSeen[p.Platform] = true
		switch lag := maxSeen.Sub(p.EventTime); {
		case lag >= 2*time.Minute-4*time.Second:
			offline++
		case lag > 0:
			outOfOrder++
			assert.Less(t, lag, 4*time.Second+time.Second)
		}
		if p.EventTime.After(maxSeen) {
			maxSeen = p.EventTime
		}
	}
	assert.Equal(t, int64(DefaultEvents), n)
	assert.Equal(t, []int{1, 2, 3}, waveDone)
	assert.InDelta(t, 45, offline, 25, "about 1% offline plays")
	assert.Greater(t, outOfOrder, n/5, "event times are jittered out of order")
	assert.InDelta(t, 0.53, float64(complete)/float64(n), 0.06, "about half the plays complete")
	assert.Greater(t, earlySkip, n/10, "many skip early")
	assert.Len(t, platformsSeen, len(platforms))
	assert.Greater(t, len(users), 1000)
	assert.Less(t, len(users), 3000)
}

func TestGeneratorDeterministic(t *testing.T) {
	t.Parallel()
	collect := func(seed uint64) []Play { return slices.Collect(NewGenerator(DefaultCatalog(), 500, seed).All()) }
	a, b := collect(7), collect(7)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, collect(8))
	g := NewGenerator(DefaultCatalog(), 500, 7)
	assert.Equal(t, slices.Collect(g.All()), slices.Collect(g.All()), "All starts over")
}

func TestGeneratorStopsEarly(t *testing.T) {
	t.Parallel()
	var n int
	for range NewGenerator(DefaultCatalog(), 1_000_000_000, 1).All() {
		if n++; n == 10 {
			break
		}
	}
	assert.Equal(t, 10, n)
}

func TestGeneratorCustomCatalog(t *testing.T) {
	t.Parallel()
	cat, err := NewCatalog([]Track{{TrackID: "x", Title: "X", DurationMs: 1}, {TrackID: "y", Title: "Y", DurationMs: 1, Weight: 1}})
	require.NoError(t, err)
	for p := range NewGenerator(cat, 200, 1).All() {
		assert.Equal(t, "y", p.TrackID, "a zero weight is never drawn")
	}
}

func TestGeneratorDumpReadsBack(t *testing.T) {
	t.Parallel()
	var dump bytes.Buffer
	plays := slices.Collect(NewGenerator(DefaultCatalog(), 50, 3).All())
	for _, p := range plays {
		line, err := encodePlay(p)
		require.NoError(t, err)
		dump.Write(append(line, '\n'))
	}
	back := slices.Collect(NewLineSource(&dump, nil).All())
	assert.Equal(t, plays, back, "a dump reads back as the same plays, line numbers included")
}

func TestPick(t *testing.T) {
	t.Parallel()
	cw := []float64{1, 1, 3} // weights 1, 0, 2
	assert.Equal(t, 0, pick(cw, 0))
	assert.Equal(t, 0, pick(cw, 0.33))
	assert.Equal(t, 2, pick(cw, 1.0/3), "a boundary belongs to the next non-empty bucket")
	assert.Equal(t, 2, pick(cw, 0.99))
}

// TestZipfTable: the alias tables give each rank exactly its Zipf share,
// (v+k)^-s over the sum, up to the 32-bit split of a bucket, with the hot
// table's last bucket standing for the tail; and draw reads a table: a
// bucket's own index below keep, its alias from keep on.
func TestZipfTable(t *testing.T) {
	t.Parallel()
	// shares returns each index's probability in a.
	shares := func(a aliasTable) []float64 {
		p := make([]float64, len(a))
		for i, e := range a {
			keep := float64(e.keep) / (1 << 32)
			if e.keep == math.MaxUint32 {
				keep = 1
			}
			p[i] += keep / float64(len(a))
			p[e.alias] += (1 - keep) / float64(len(a))
		}
		return p
	}
	// invShares returns each rank's probability in p: its share of the
	// distribution function's range.
	invShares := func(p *powerTail) []float64 {
		g := func(x float64) float64 { return math.Pow(p.v+x, 1/p.inv) }
		out := make([]float64, 0, p.hi-p.lo)
		for k := p.lo; k < p.hi; k++ {
			out = append(out, (g(float64(k)-0.5)-g(float64(k)+0.5))/(p.g0-p.g1))
		}
		return out
	}
	for _, n := range []int{1, 2, 7, 1000, zipfHot, zipfHot + 1, zipfHot + zipfTailTable, zipfHot + zipfTailTable + 1, 250_000} {
		tab := newZipfTable(n, zipfS, zipfV)
		got := shares(tab.hot)
		switch {
		case n > zipfHot+zipfTailTable:
			require.Len(t, tab.hot, zipfHot+1)
			require.Nil(t, tab.tail)
			require.NotNil(t, tab.inv)
			rest := got[zipfHot]
			got = got[:zipfHot]
			for _, p := range invShares(tab.inv) {
				got = append(got, rest*p)
			}
		case n > zipfHot:
			require.Len(t, tab.hot, zipfHot+1)
			require.Len(t, tab.tail, n-zipfHot)
			require.Nil(t, tab.inv)
			rest := got[zipfHot]
			got = got[:zipfHot]
			for _, p := range shares(tab.tail) {
				got = append(got, rest*p)
			}
		default:
			require.Nil(t, tab.tail)
			require.Nil(t, tab.inv)
		}
		require.Len(t, got, n)
		var sum float64
		for k := range n {
			sum += math.Pow(zipfV+float64(k), -zipfS)
		}
		for k := range n {
			want := math.Pow(zipfV+float64(k), -zipfS) / sum
			require.InDelta(t, want, got[k], 1e-9/float64(n)+want*1e-6, "n %d rank %d", n, k)
		}
		a := tab.hot
		for _, i := range []int{0, len(a) / 2, len(a) - 1} {
			hi := (uint64(i)<<32 + uint64(len(a)) - 1) / uint64(len(a)) // the first word of bucket i
			want := i
			if a[i].keep == 0 {
				want = int(a[i].alias)
			}
			require.Equal(t, want, a.draw(hi<<32), "n %d bucket %d, low bits 0", n, i)
			if a[i].keep != math.MaxUint32 {
				want = int(a[i].alias)
			}
			require.Equal(t, want, a.draw(hi<<32|math.MaxUint32), "n %d bucket %d, low bits max", n, i)
		}
	}

	// The inversion's ranks: the ends, and words whose u is just inside a
	// rank's range of the distribution function.
	inv := newZipfTable(250_000, zipfS, zipfV).inv
	require.Equal(t, zipfHot, inv.draw(0))
	require.Equal(t, 250_000-1, inv.draw(math.MaxUint64))
	g := func(x float64) float64 { return math.Pow(inv.v+x, 1/inv.inv) }
	for _, k := range []int{zipfHot, zipfHot + 1, 20_000, 123_456, 249_998} {
		for _, edge := range []float64{0.5 - 1e-6, -0.5 + 1e-6} { // just inside [k-½, k+½)
			u := (inv.g0 - g(float64(k)+edge)) / (inv.g0 - inv.g1)
			require.Equal(t, k, inv.draw(uint64(u*(1<<53))<<11), "rank %d, edge %v", k, edge)
		}
	}

	// Drawn: rank 0 and the tail as often as their shares say (within
	// five standard deviations).
	const n, draws = 250_000, 400_000
	tab := newZipfTable(n, zipfS, zipfV)
	var sum, tailSum float64
	for k := range n {
		w := math.Pow(zipfV+float64(k), -zipfS)
		sum += w
		if k >= zipfHot {
			tailSum += w
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	var first, tail int
	for range draws {
		switch k := tab.draw(r); {
		case k == 0:
			first++
		case k >= zipfHot:
			require.Less(t, k, n)
			tail++
		}
	}
	for _, c := range []struct {
		name string
		got  int
		p    float64
	}{{"rank 0", first, math.Pow(zipfV, -zipfS) / sum}, {"tail", tail, tailSum / sum}} {
		mean := c.p * draws
		assert.InDelta(t, mean, float64(c.got), 5*math.Sqrt(mean*(1-c.p)), c.name)
	}
}

// TestIDsCountOn: ids made by adding one to the previous id's digits (event
// ids in blocks) equal ids formatted afresh, across the carries and where a
// number outgrows the padding; the user-id table holds each rank's id.
func TestIDsCountOn(t *testing.T) {
	t.Parallel()
	var e eventIDs
	for _, from := range []int64{1, 1020, 9_999_000, 10_000_000 - 3} {
		for n := from; n < from+2*idBlock; n++ {
			require.Equal(t, formatID("e-", n, 7), e.id(n))
		}
	}
	users := byRank(1001)
	seen := map[string]bool{}
	for k := range 1001 {
		id := users[k*userIDLen : (k+1)*userIDLen]
		require.Equal(t, formatID("u-", int64(userOfRank(uint64(k), 1001)), 6), id)
		seen[id] = true
	}
	assert.Greater(t, len(seen), 900, "the ranks are scattered over many users")
	var b []byte
	last := -1
	for n := int64(0); n < 1100; n++ {
		next := len(b)
		b = appendNextID(b, last, "x", n, 2)
		require.Equal(t, formatID("x", n, 2), string(b[next:]))
		last = next
	}
}

// formatID formats prefix + n zero-padded to width digits.
func formatID(prefix string, n int64, width int) string {
	return string(appendID(nil, prefix, n, width))
}
