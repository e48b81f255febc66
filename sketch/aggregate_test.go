package sketch

import (
	"bytes"
	"encoding/gob"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aggregator is a local copy of the window package's Aggregator interface;
// this package must not import window, so conformance is checked here.
type aggregator[In, Acc, Out any] interface {
	New() Acc
	Add(acc Acc, in In) Acc
	Merge(a, b Acc) Acc
	Result(acc Acc) Out
}

type play struct {
	user    string
	userID  uint64
	track   string
	seconds float64
}

var (
	_ aggregator[play, *HLL, uint64]                  = DistinctCounter[play]{}
	_ aggregator[play, *TopK, []Item]                 = TopKAggregator[play]{}
	_ aggregator[play, *Quantiles, QuantileSummary]   = QuantilesAggregator[play]{}
	_ aggregator[[]byte, *HLL, uint64]                = DistinctCountBytes(func(b []byte) []byte { return b })
	_ aggregator[uint64, *HLL, uint64]                = DistinctCountUint64(func(x uint64) uint64 { return x })
	_ aggregator[string, *Quantiles, QuantileSummary] = QuantilesOf(func(string) float64 { return 0 }, nil)
	_ aggregator[string, *TopK, []Item]               = TopKOf(func(s string) string { return s }, 1, 1)
	_ aggregator[string, *HLL, uint64]                = DistinctCount(func(s string) string { return s })
)

func plays(n int, seed uint64) []play {
	r := rand.New(rand.NewPCG(seed, 0))
	z := rand.NewZipf(r, 1.2, 1, 999)
	out := make([]play, n)
	for i := range out {
		id := r.Uint64N(20_000)
		out[i] = play{
			user:    "user-" + strconv.FormatUint(id, 10),
			userID:  id,
			track:   "track-" + strconv.FormatUint(z.Uint64(), 10),
			seconds: math.Exp(5 + 0.5*r.NormFloat64()),
		}
	}
	return out
}

// runParallel feeds in to `parallel` accumulators round-robin, as parallel
// instances would, and merges them; it also returns a single accumulator
// over everything.
func runParallel[In, Acc, Out any](agg aggregator[In, Acc, Out], in []In, parallel int) (merged, single Acc) {
	accs := make([]Acc, parallel)
	for i := range accs {
		accs[i] = agg.New()
	}
	single = agg.New()
	for i, x := range in {
		accs[i%parallel] = agg.Add(accs[i%parallel], x)
		single = agg.Add(single, x)
	}
	merged = accs[0]
	for _, a := range accs[1:] {
		merged = agg.Merge(merged, a)
	}
	return merged, single
}

func TestDistinctCountAggregator(t *testing.T) {
	t.Parallel()
	in := plays(100_000, 1)
	exact := map[uint64]struct{}{}
	for _, p := range in {
		exact[p.userID] = struct{}{}
	}
	byString := DistinctCount(func(p play) string { return p.user })
	byBytes := DistinctCountBytes(func(p play) []byte { return []byte(p.user) })
	byID := DistinctCountUint64(func(p play) uint64 { return p.userID })

	m, s := runParallel(byString, in, 4)
	assert.Equal(t, byString.Result(s), byString.Result(m), "merged == single")
	assert.InEpsilon(t, len(exact), byString.Result(m), 3*hllStdErr(DefaultPrecision))
	first := byString.Result(m)
	assert.Equal(t, first, byString.Result(m), "Result does not invalidate acc")

	mb, _ := runParallel(byBytes, in, 3)
	assert.Equal(t, first, byBytes.Result(mb), "bytes keys count like string keys")

	mi, si := runParallel(byID, in, 2)
	assert.Equal(t, byID.Result(si), byID.Result(mi))
	assert.InEpsilon(t, len(exact), byID.Result(mi), 3*hllStdErr(DefaultPrecision))

	p12 := DistinctCount(func(p play) string { return p.user }, WithPrecision(12))
	assert.Equal(t, uint8(12), p12.New().Precision())
	assert.Panics(t, func() { p12.Merge(p12.New(), byString.New()) }, "mixed precisions are a programmer's mistake")
}

func TestTopKAggregator(t *testing.T) {
	t.Parallel()
	in := plays(100_000, 2)
	exact := map[string]uint64{}
	for _, p := range in {
		exact[p.track]++
	}
	agg := TopKOf(func(p play) string { return p.track }, 5, 200)
	m, s := runParallel(agg, in, 4)
	want := exactTop(exact, 5)
	assert.Equal(t, want, keysOf(agg.Result(m)))
	assert.Equal(t, want, keysOf(agg.Result(s)))
	assert.Len(t, agg.Result(m), 5)
	assert.Equal(t, 200, agg.New().Capacity())
}

func TestQuantilesAggregator(t *testing.T) {
	t.Parallel()
	in := plays(50_000, 3)
	agg := QuantilesOf(func(p play) float64 { return p.seconds }, []float64{0.5, 0.95})
	m, s := runParallel(agg, in, 4)
	rm, rs := agg.Result(m), agg.Result(s)
	assert.Equal(t, rs, rm, "merged == single")
	assert.Equal(t, float64(len(in)), rm.Count)
	require.Len(t, rm.Values, 2)
	assert.InEpsilon(t, math.Exp(5), rm.Values[0], 0.05, "median of exp(N(5, .5))")
	assert.Greater(t, rm.Values[1], rm.Values[0])

	acc := agg.New()
	acc = agg.Add(acc, play{seconds: math.NaN()})
	r := agg.Result(acc)
	assert.Equal(t, uint64(1), r.Rejected, "a NaN is counted, not lost")
	assert.Equal(t, 0.0, r.Count)
	assert.True(t, math.IsNaN(r.Values[0]), "no value: NaN")
}

func TestAggregatorConstructorsPanic(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { DistinctCount[play](nil) })
	assert.Panics(t, func() { DistinctCountUint64[play](nil) })
	assert.Panics(t, func() { DistinctCountBytes[play](nil) })
	assert.Panics(t, func() { DistinctCount(func(p play) string { return p.user }, WithPrecision(3)) })
	assert.Panics(t, func() { TopKOf[play](nil, 1, 1) })
	assert.Panics(t, func() { TopKOf(func(p play) string { return p.track }, 0, 10) })
	assert.Panics(t, func() { TopKOf(func(p play) string { return p.track }, 11, 10) })
	assert.Panics(t, func() { QuantilesOf[play](nil, nil) })
	assert.Panics(t, func() { QuantilesOf(func(p play) float64 { return 0 }, []float64{1.5}) })
	assert.Panics(t, func() { QuantilesOf(func(p play) float64 { return 0 }, nil, WithRelativeAccuracy(2)) })
}

// TestGobRoundTrip: the window operator checkpoints accumulators with
// encoding/gob, which uses their BinaryMarshaler.
func TestGobRoundTrip(t *testing.T) {
	t.Parallel()
	in := plays(20_000, 4)
	type state struct {
		Listeners *HLL
		Top       *TopK
		Listen    *Quantiles
	}
	listeners := DistinctCount(func(p play) string { return p.user })
	top := TopKOf(func(p play) string { return p.track }, 3, 50)
	listen := QuantilesOf(func(p play) float64 { return p.seconds }, []float64{0.5, 0.95})
	s := state{listeners.New(), top.New(), listen.New()}
	for _, p := range in {
		s.Listeners = listeners.Add(s.Listeners, p)
		s.Top = top.Add(s.Top, p)
		s.Listen = listen.Add(s.Listen, p)
	}
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(s))
	var got state
	require.NoError(t, gob.NewDecoder(&buf).Decode(&got))
	assert.Equal(t, listeners.Result(s.Listeners), listeners.Result(got.Listeners))
	assert.Equal(t, top.Result(s.Top), top.Result(got.Top))
	assert.Equal(t, listen.Result(s.Listen), listen.Result(got.Listen))
}
