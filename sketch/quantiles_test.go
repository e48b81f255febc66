package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type distribution struct {
	name string
	draw func(r *rand.Rand) float64
}

var distributions = []distribution{
	// Listen time in seconds: log-normal around three minutes.
	{"lognormal", func(r *rand.Rand) float64 { return math.Exp(5.2 + 0.6*r.NormFloat64()) }},
	{"exponential", func(r *rand.Rand) float64 { return r.ExpFloat64() * 1e-3 }},
	{"uniform", func(r *rand.Rand) float64 { return 1 + 1e6*r.Float64() }},
	{"pareto", func(r *rand.Rand) float64 { return math.Pow(1-r.Float64(), -1/1.2) }},
	{"signed-normal", func(r *rand.Rand) float64 { return 100 * r.NormFloat64() }},
	{"with-zeros", func(r *rand.Rand) float64 {
		if r.IntN(3) == 0 {
			return 0
		}
		return r.ExpFloat64()
	}},
}

// exactQuantile is the input value of rank p·(n-1), the value DDSketch's
// guarantee refers to; the callers make that rank an integer.
func exactQuantile(sorted []float64, p float64) float64 {
	return sorted[int(math.Round(p*float64(len(sorted)-1)))]
}

// TestQuantilesAccuracy: the relative error is at most α (1 %) for every
// percentile from p50 to p99, on several distributions.
func TestQuantilesAccuracy(t *testing.T) {
	t.Parallel()
	// n-1 is a multiple of 100, so every percentile's rank p·(n-1) is an
	// integer and the exact quantile is one input value (DDSketch resolves a
	// fractional rank downwards for positive values but upwards for
	// negative ones).
	n := 200_001
	if testing.Short() {
		n = 50_001
	}
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, 2))
			q := mustQuantiles(t)
			values := make([]float64, n)
			for i := range values {
				values[i] = d.draw(r)
				require.NoError(t, q.Add(values[i]))
			}
			slices.Sort(values)
			assert.Equal(t, float64(n), q.Count())
			var worst float64
			for pct := 50; pct <= 99; pct++ {
				p := float64(pct) / 100
				got, err := q.Quantile(p)
				require.NoError(t, err)
				want := exactQuantile(values, p)
				diff := math.Abs(got - want)
				assert.LessOrEqual(t, diff, DefaultRelativeAccuracy*math.Abs(want)+1e-12, "p%d: got %v want %v", pct, got, want)
				if want != 0 {
					worst = max(worst, diff/math.Abs(want))
				}
			}
			t.Logf("%s: worst relative error p50..p99 = %.4f%%", d.name, 100*worst)
		})
	}
}

// TestQuantilesMergeIsExact: merging shards equals the sketch of the whole.
func TestQuantilesMergeIsExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	whole := mustQuantiles(t)
	shards := []*Quantiles{mustQuantiles(t), mustQuantiles(t), mustQuantiles(t)}
	for i := range 30_000 {
		v := distributions[i%len(distributions)].draw(r)
		require.NoError(t, whole.Add(v))
		require.NoError(t, shards[i%3].Add(v))
	}
	merged := &Quantiles{} // zero value adopts the first merged sketch
	for _, s := range shards {
		require.NoError(t, merged.Merge(s))
	}
	assert.Equal(t, whole.Count(), merged.Count())
	for p := 0.0; p <= 1; p += 0.005 {
		w, err := whole.Quantile(p)
		require.NoError(t, err)
		m, err := merged.Quantile(p)
		require.NoError(t, err)
		assert.Equal(t, w, m, "p=%v", p)
	}
	// Self merge doubles the count, keeps the quantiles.
	med, _ := merged.Quantile(0.5)
	require.NoError(t, merged.Merge(merged))
	assert.Equal(t, 2*whole.Count(), merged.Count())
	med2, _ := merged.Quantile(0.5)
	assert.Equal(t, med, med2)
}

func TestQuantilesMergeIncompatible(t *testing.T) {
	t.Parallel()
	a := mustQuantiles(t)
	b := mustQuantiles(t, WithRelativeAccuracy(0.02))
	require.NoError(t, a.Add(1))
	require.NoError(t, b.Add(1))
	require.ErrorIs(t, a.Merge(b), ErrIncompatible)
	assert.Equal(t, 1.0, a.Count())
	require.NoError(t, a.Merge(nil))
	require.NoError(t, a.Merge(&Quantiles{}))
	assert.Equal(t, 1.0, a.Count())
}

func TestQuantilesRejected(t *testing.T) {
	t.Parallel()
	q := mustQuantiles(t)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64} {
		assert.ErrorIs(t, q.Add(v), ErrUntrackable, "%v", v)
	}
	require.NoError(t, q.Add(-3))
	assert.Equal(t, uint64(4), q.Rejected())
	assert.Equal(t, 1.0, q.Count())
	other := mustQuantiles(t)
	_ = other.Add(math.NaN())
	require.NoError(t, q.Merge(other))
	assert.Equal(t, uint64(5), q.Rejected(), "Rejected is merged")
}

// TestQuantilesAddN: AddN(v, n) makes the sketch n calls of Add(v) make
// (same quantiles, bounds and count), refuses what Add refuses, n times,
// and a count the encoding cannot carry.
func TestQuantilesAddN(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	one, many := mustQuantiles(t), mustQuantiles(t)
	for range 500 {
		v := math.Round(1000 * r.ExpFloat64())
		n := uint64(r.IntN(4))
		if r.IntN(2) == 0 {
			v = -v
		}
		for range n {
			require.NoError(t, one.Add(v))
		}
		require.NoError(t, many.AddN(v, n))
	}
	// The stores may lay the same bins out differently (buffered or
	// paged), so the encodings can differ; every figure must not.
	assert.Equal(t, one.Count(), many.Count())
	for i := range 101 {
		p := float64(i) / 100
		x, err := one.Quantile(p)
		require.NoError(t, err)
		y, err := many.Quantile(p)
		require.NoError(t, err)
		assert.Equal(t, x, y, "quantile %v", p)
	}
	for _, f := range []func(*Quantiles) (float64, error){(*Quantiles).Min, (*Quantiles).Max} {
		x, err := f(one)
		require.NoError(t, err)
		y, err := f(many)
		require.NoError(t, err)
		assert.Equal(t, x, y)
	}

	q := mustQuantiles(t)
	assert.ErrorIs(t, q.AddN(math.NaN(), 3), ErrUntrackable)
	assert.Equal(t, uint64(3), q.Rejected(), "each refused value counts")
	assert.ErrorIs(t, q.AddN(1, MaxEncodedCount+1), ErrInvalidOption)
	require.NoError(t, q.AddN(1, 0))
	assert.Equal(t, 0.0, q.Count(), "nothing added")
	require.NoError(t, q.AddN(2, MaxEncodedCount))
	assert.Equal(t, float64(MaxEncodedCount), q.Count())
	var zero Quantiles
	require.NoError(t, zero.AddN(5, 2))
	assert.Equal(t, 2.0, zero.Count(), "the zero value is usable")
}

func TestQuantilesEmptyAndOptions(t *testing.T) {
	t.Parallel()
	var q Quantiles
	_, err := q.Quantile(0.5)
	assert.ErrorIs(t, err, ErrEmpty)
	assert.Equal(t, DefaultRelativeAccuracy, q.RelativeAccuracy())
	require.NoError(t, q.Add(42))
	_, err = q.Quantile(1.5)
	assert.ErrorIs(t, err, ErrInvalidOption)
	v, err := q.Quantile(0.5)
	require.NoError(t, err)
	assert.InEpsilon(t, 42, v, DefaultRelativeAccuracy)
	q.Reset()
	assert.Equal(t, 0.0, q.Count())

	for _, a := range []float64{0, -1, 0.0009, 0.51, 1, math.NaN()} {
		_, err := NewQuantiles(WithRelativeAccuracy(a))
		assert.ErrorIs(t, err, ErrInvalidOption, "%v", a)
	}
	for _, a := range []float64{MinRelativeAccuracy, 0.005, 0.05, MaxRelativeAccuracy} {
		q, err := NewQuantiles(WithRelativeAccuracy(a))
		require.NoError(t, err)
		assert.InEpsilon(t, a, q.RelativeAccuracy(), 1e-9)
		require.NoError(t, q.Add(1))
		var back Quantiles
		require.NoError(t, back.UnmarshalBinary(mustMarshal(t, q)), "accuracy %v round trips", a)
	}
}

func TestQuantilesRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			q := mustQuantiles(t)
			for range 5000 {
				require.NoError(t, q.Add(d.draw(r)))
			}
			data := mustMarshal(t, q)
			var got Quantiles
			require.NoError(t, got.UnmarshalBinary(data))
			assert.Equal(t, q.Count(), got.Count())
			assert.Equal(t, q.RelativeAccuracy(), got.RelativeAccuracy())
			for p := 0.0; p <= 1; p += 0.01 {
				a, _ := q.Quantile(p)
				b, _ := got.Quantile(p)
				assert.Equal(t, a, b, "p=%v", p)
			}
			// DataDog's own decoder reads our bytes (interoperability).
			dd, err := ddsketch.DecodeDDSketch(data, store.DefaultProvider, nil)
			require.NoError(t, err)
			assert.Equal(t, q.Count(), dd.GetCount())
			// And we read DataDog's encoding of a plain DDSketch.
			plain, err := ddsketch.LogUnboundedDenseDDSketch(0.01)
			require.NoError(t, err)
			require.NoError(t, plain.Add(7))
			require.NoError(t, plain.Add(0))
			require.NoError(t, plain.Add(-7))
			var pb []byte
			plain.Encode(&pb, false)
			var fromPlain Quantiles
			require.NoError(t, fromPlain.UnmarshalBinary(pb))
			assert.Equal(t, 3.0, fromPlain.Count())
		})
	}
	var zero Quantiles
	var back Quantiles
	require.NoError(t, back.UnmarshalBinary(mustMarshal(t, &zero)), "an empty sketch round trips")
	assert.Equal(t, 0.0, back.Count())
}

func TestQuantilesUnmarshalRejects(t *testing.T) {
	t.Parallel()
	q := mustQuantiles(t)
	require.NoError(t, q.Add(10))
	valid := mustMarshal(t, q)
	var plainValid []byte // without the bounds
	q.sk.Encode(&plainValid, false)

	mappingOnly := func(gamma, offset float64) []byte {
		var b []byte
		enc.EncodeFlag(&b, enc.FlagIndexMappingBaseLogarithmic)
		enc.EncodeFloat64LE(&b, gamma)
		enc.EncodeFloat64LE(&b, offset)
		return b
	}
	good := mappingOnly(1.02, 0)
	withBins := func(sub enc.SubFlag, fields func(b *[]byte)) []byte {
		b := append([]byte(nil), good...)
		enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypePositiveStore, sub))
		fields(&b)
		return b
	}
	var probe Quantiles
	require.NoError(t, probe.UnmarshalBinary(good), "a bare mapping is an empty sketch")
	require.NoError(t, probe.UnmarshalBinary(withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
		enc.EncodeUvarint64(b, 1)
		enc.EncodeVarint64(b, 100)
		enc.EncodeVarfloat64(b, 2)
	})), "one bin")
	require.Equal(t, 2.0, probe.Count())

	cases := map[string][]byte{
		"empty":             nil,
		"truncated":         valid[:len(valid)-1],
		"no mapping":        plainValid[len(good):],
		"two mappings":      append(append([]byte(nil), good...), good...),
		"gamma <= 1":        mappingOnly(1, 0),
		"gamma NaN":         mappingOnly(math.NaN(), 0),
		"gamma Inf":         mappingOnly(math.Inf(1), 0),
		"accuracy too fine": mappingOnly(1.0001, 0),
		"accuracy too poor": mappingOnly(4, 0),
		"offset NaN":        mappingOnly(1.02, math.NaN()),
		"offset huge":       mappingOnly(1.02, 1e300),
		"unknown flag":      append(append([]byte(nil), good...), 0xfc),
		"huge bin count": withBins(enc.BinEncodingContiguousCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1<<40)
			enc.EncodeVarint64(b, 0)
			enc.EncodeVarint64(b, 1)
		}),
		"index outside mapping": withBins(enc.BinEncodingIndexDeltas, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1)
			enc.EncodeVarint64(b, 1<<31)
		}),
		"index far apart": withBins(enc.BinEncodingIndexDeltas, func(b *[]byte) {
			enc.EncodeUvarint64(b, 2)
			enc.EncodeVarint64(b, -40_000)
			enc.EncodeVarint64(b, 1<<62)
		}),
		"negative count": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, -1)
		}),
		"NaN count": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, math.NaN())
		}),
		"counts overflow": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 2)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, math.MaxFloat64)
			enc.EncodeVarint64(b, 1)
			enc.EncodeVarfloat64(b, math.MaxFloat64)
		}),
		"count 2^54 (rounds in the encoding)": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, 1<<54)
		}),
		"fractional count": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 1)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, 0.5)
		}),
		"total above 2^53-1": withBins(enc.BinEncodingIndexDeltasAndCounts, func(b *[]byte) {
			enc.EncodeUvarint64(b, 2)
			enc.EncodeVarint64(b, 5)
			enc.EncodeVarfloat64(b, MaxEncodedCount)
			enc.EncodeVarint64(b, 1)
			enc.EncodeVarfloat64(b, 1)
		}),
		"minimum without maximum": func() []byte {
			var b []byte
			enc.EncodeFlag(&b, enc.FlagMin)
			enc.EncodeFloat64LE(&b, 10)
			return append(b, plainValid...)
		}(),
		"bounds off the bins": func() []byte {
			var b []byte
			enc.EncodeFlag(&b, enc.FlagMin)
			enc.EncodeFloat64LE(&b, 10)
			enc.EncodeFlag(&b, enc.FlagMax)
			enc.EncodeFloat64LE(&b, 20)
			return append(b, plainValid...)
		}(),
		"bounds of an empty sketch": func() []byte {
			var b []byte
			enc.EncodeFlag(&b, enc.FlagMin)
			enc.EncodeFloat64LE(&b, 10)
			enc.EncodeFlag(&b, enc.FlagMax)
			enc.EncodeFloat64LE(&b, 10)
			return append(b, good...)
		}(),
		"NaN maximum": func() []byte {
			var b []byte
			enc.EncodeFlag(&b, enc.FlagMin)
			enc.EncodeFloat64LE(&b, 10)
			enc.EncodeFlag(&b, enc.FlagMax)
			enc.EncodeFloat64LE(&b, math.NaN())
			return append(b, plainValid...)
		}(),
		"bad zero count": func() []byte {
			b := append([]byte(nil), good...)
			enc.EncodeFlag(&b, enc.FlagZeroCountVarFloat)
			enc.EncodeVarfloat64(&b, math.Inf(1))
			return b
		}(),
		"unknown bin encoding": withBins(enc.BinEncodingContiguousCounts, func(b *[]byte) {
			(*b)[len(*b)-1] |= 0xf0 // a sub-flag that is no bin encoding
			enc.EncodeUvarint64(b, 0)
		}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			target := mustQuantiles(t)
			require.NoError(t, target.Add(1))
			require.ErrorIs(t, target.UnmarshalBinary(data), ErrCorrupt)
			assert.Equal(t, 1.0, target.Count(), "unchanged")
		})
	}
}

func mustQuantiles(t testing.TB, opts ...QuantilesOption) *Quantiles {
	t.Helper()
	q, err := NewQuantiles(opts...)
	require.NoError(t, err)
	return q
}

// TestQuantilesCountsRoundTrip: every count UnmarshalBinary accepts survives
// an encode/decode round trip, up to MaxEncodedCount; the fuzz crasher of a
// count above 2^53 (which changed in a round trip) is rejected.
func TestQuantilesCountsRoundTrip(t *testing.T) {
	t.Parallel()
	var crasher Quantiles
	assert.ErrorIs(t, crasher.UnmarshalBinary([]byte("\x04j\x02000000\xf0?00000000\x040")), ErrCorrupt,
		"FuzzQuantilesUnmarshal's crasher: a count above 2^53")
	for _, c := range []float64{1, 2, 1<<52 + 1, MaxEncodedCount - 1, MaxEncodedCount} {
		var b []byte
		enc.EncodeFlag(&b, enc.FlagIndexMappingBaseLogarithmic)
		enc.EncodeFloat64LE(&b, 1.02)
		enc.EncodeFloat64LE(&b, 0)
		enc.EncodeFlag(&b, enc.NewFlag(enc.FlagTypePositiveStore, enc.BinEncodingIndexDeltasAndCounts))
		enc.EncodeUvarint64(&b, 1)
		enc.EncodeVarint64(&b, 7)
		enc.EncodeVarfloat64(&b, c)
		var q Quantiles
		require.NoError(t, q.UnmarshalBinary(b), "count %v", c)
		require.Equal(t, c, q.Count())
		var back Quantiles
		require.NoError(t, back.UnmarshalBinary(mustMarshal(t, &q)), "count %v re-encoded", c)
		assert.Equal(t, c, back.Count(), "count %v after a round trip", c)
	}
}

// TestQuantilesBounds: Min and Max are exact, every quantile lies within
// them (DDSketch alone overshoots the maximum by up to α), and they survive
// merging and an encode/decode round trip.
func TestQuantilesBounds(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		a, b := mustQuantiles(t), mustQuantiles(t)
		var all []float64
		for i := range 1 + r.IntN(300) {
			v := math.Round(r.NormFloat64()*1e5) + float64(r.IntN(3)-1)*183000
			if i%2 == 0 {
				require.NoError(t, a.Add(v))
			} else {
				require.NoError(t, b.Add(v))
			}
			all = append(all, v)
		}
		require.NoError(t, a.Merge(b))
		var back Quantiles
		require.NoError(t, back.UnmarshalBinary(mustMarshal(t, a)))
		lo, hi := slices.Min(all), slices.Max(all)
		for _, q := range []*Quantiles{a, &back} {
			gotLo, err := q.Min()
			require.NoError(t, err)
			gotHi, err := q.Max()
			require.NoError(t, err)
			assert.Equal(t, lo, gotLo, "round %d", round)
			assert.Equal(t, hi, gotHi, "round %d", round)
			for _, p := range []float64{0, 0.01, 0.5, 0.95, 0.99, 1} {
				v, err := q.Quantile(p)
				require.NoError(t, err)
				assert.True(t, v >= lo && v <= hi, "round %d: p%v = %v outside [%v, %v]", round, p, v, lo, hi)
			}
		}
	}
	// All values equal: every quantile is that value, exactly.
	q := mustQuantiles(t)
	for range 1000 {
		require.NoError(t, q.Add(183000))
	}
	p95, err := q.Quantile(0.95)
	require.NoError(t, err)
	assert.Equal(t, 183000.0, p95)
	var empty Quantiles
	_, err = empty.Min()
	assert.ErrorIs(t, err, ErrEmpty)
}

// TestQuantilesWithoutBounds: DDSketch's plain encoding has no bounds; the
// decoded sketch's Min and Max are then its bins' (within α), and merging it
// makes the result's bounds inexact too.
func TestQuantilesWithoutBounds(t *testing.T) {
	t.Parallel()
	plain, err := ddsketch.NewDefaultDDSketch(DefaultRelativeAccuracy)
	require.NoError(t, err)
	for _, v := range []float64{100, 200, 300} {
		require.NoError(t, plain.Add(v))
	}
	var b []byte
	plain.Encode(&b, false)
	var q Quantiles
	require.NoError(t, q.UnmarshalBinary(b))
	hi, err := q.Max()
	require.NoError(t, err)
	assert.InEpsilon(t, 300, hi, DefaultRelativeAccuracy)
	exact := mustQuantiles(t)
	require.NoError(t, exact.Add(1000))
	require.NoError(t, exact.Merge(&q))
	hi, err = exact.Max()
	require.NoError(t, err)
	assert.InEpsilon(t, 1000, hi, DefaultRelativeAccuracy)
	var back Quantiles
	require.NoError(t, back.UnmarshalBinary(mustMarshal(t, exact)))
	lo, err := back.Min()
	require.NoError(t, err)
	assert.InEpsilon(t, 100, lo, DefaultRelativeAccuracy)

	// DDSketch's own decoder reads an encoding with bounds (it skips them).
	bounded := mustQuantiles(t)
	require.NoError(t, bounded.Add(5))
	require.NoError(t, bounded.Add(-5))
	dd, err := ddsketch.DecodeDDSketch(mustMarshal(t, bounded), store.DefaultProvider, nil)
	require.NoError(t, err)
	assert.Equal(t, 2.0, dd.GetCount())
}
