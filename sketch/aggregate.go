package sketch

import (
	"fmt"
	"math"
	"slices"
)

// The aggregators below have the shape of the window package's
//
//	Aggregator[In, Acc, Out] { New() Acc; Add(Acc, In) Acc; Merge(a, b Acc) Acc; Result(Acc) Out }
//
// and satisfy it structurally. Each accumulator is a sketch owned by one
// window of one key in one parallel instance; Merge combines instances (or
// merging session windows). Result never invalidates the accumulator.
//
// The constructors panic on invalid arguments (a nil key function, an
// out-of-range option): those are constants in a program, so a panic at
// pipeline construction is a programmer's mistake caught at once. Validate
// options read from configuration with NewHLL, NewTopK or NewQuantiles first.

// DistinctCounter counts the distinct keys of its input per accumulator with
// an HLL: Acc is *HLL, Out the estimate. Build one with DistinctCount,
// DistinctCountUint64 or DistinctCountBytes.
type DistinctCounter[In any] struct {
	cfg   hllConfig
	str   func(In) string
	u64   func(In) uint64
	bytes func(In) []byte
}

// DistinctCount returns an aggregator counting the distinct strings key(in),
// e.g. the unique listeners of a track per window.
func DistinctCount[In any](key func(In) string, opts ...HLLOption) DistinctCounter[In] {
	if key == nil {
		panic("sketch: DistinctCount: nil key function")
	}
	return DistinctCounter[In]{cfg: mustHLLConfig(opts), str: key}
}

// DistinctCountUint64 returns an aggregator counting the distinct integers
// key(in). It is cheaper than formatting integers as strings, but counts
// different keys: 7 and "7" are not the same key.
func DistinctCountUint64[In any](key func(In) uint64, opts ...HLLOption) DistinctCounter[In] {
	if key == nil {
		panic("sketch: DistinctCountUint64: nil key function")
	}
	return DistinctCounter[In]{cfg: mustHLLConfig(opts), u64: key}
}

// DistinctCountBytes returns an aggregator counting the distinct byte
// strings key(in); the bytes are hashed, not retained. It counts the same
// keys as DistinctCount with string(key(in)).
func DistinctCountBytes[In any](key func(In) []byte, opts ...HLLOption) DistinctCounter[In] {
	if key == nil {
		panic("sketch: DistinctCountBytes: nil key function")
	}
	return DistinctCounter[In]{cfg: mustHLLConfig(opts), bytes: key}
}

func mustHLLConfig(opts []HLLOption) hllConfig {
	c, err := newHLLConfig(opts)
	if err != nil {
		panic(err)
	}
	return c
}

// New returns an empty HLL configured by the constructor's options.
func (d DistinctCounter[In]) New() *HLL { return newHLL(d.cfg) }

// Add adds the key of in to acc and returns acc.
func (d DistinctCounter[In]) Add(acc *HLL, in In) *HLL {
	switch {
	case d.str != nil:
		acc.AddString(d.str(in))
	case d.u64 != nil:
		acc.AddUint64(d.u64(in))
	default:
		acc.AddBytes(d.bytes(in))
	}
	return acc
}

// Merge folds b into a and returns a. It panics if the two were built with
// different precisions, which accumulators of one aggregator never are.
func (d DistinctCounter[In]) Merge(a, b *HLL) *HLL {
	if a == nil {
		return b
	}
	if err := a.Merge(b); err != nil {
		panic(err)
	}
	return a
}

// Result returns the estimated number of distinct keys in acc.
func (d DistinctCounter[In]) Result(acc *HLL) uint64 { return acc.Estimate() }

// TopKAggregator finds the k most frequent keys of its input per accumulator
// with a TopK of a given capacity: Acc is *TopK, Out the top k Items. Build
// one with TopKOf.
type TopKAggregator[In any] struct {
	key         func(In) string
	k, capacity int
}

// TopKOf returns an aggregator reporting the k most frequent keys key(in)
// (e.g. a per-window leaderboard of tracks), tracked by a TopK with the given
// capacity (k <= capacity <= MaxTopKCapacity; a capacity several times k
// makes the reported counts much tighter than the N/capacity bound).
func TopKOf[In any](key func(In) string, k, capacity int) TopKAggregator[In] {
	if key == nil {
		panic("sketch: TopKOf: nil key function")
	}
	if k < 1 || capacity < k || capacity > MaxTopKCapacity {
		panic(fmt.Sprintf("sketch: TopKOf: need 1 <= k (%d) <= capacity (%d) <= %d", k, capacity, MaxTopKCapacity))
	}
	return TopKAggregator[In]{key: key, k: k, capacity: capacity}
}

// New returns an empty TopK of the aggregator's capacity.
func (a TopKAggregator[In]) New() *TopK { return &TopK{capacity: a.capacity} }

// Add counts the key of in and returns acc.
func (a TopKAggregator[In]) Add(acc *TopK, in In) *TopK {
	acc.Add(a.key(in))
	return acc
}

// Merge folds y into x and returns x. It panics if the two have different
// capacities, which accumulators of one aggregator never have.
func (a TopKAggregator[In]) Merge(x, y *TopK) *TopK {
	if x == nil {
		return y
	}
	if err := x.Merge(y); err != nil {
		panic(err)
	}
	return x
}

// Result returns the k keys with the largest counts, largest first.
func (a TopKAggregator[In]) Result(acc *TopK) []Item { return acc.Top(a.k) }

// QuantileSummary is the output of QuantilesOf.
type QuantileSummary struct {
	// Count is the number of values summarized.
	Count float64
	// Values[i] is the value at the aggregator's i-th quantile (NaN if Count
	// is 0), within the sketch's relative accuracy.
	Values []float64
	// Rejected counts values that could not be added (NaN, ±Inf, beyond
	// the mapping's range).
	Rejected uint64
}

// QuantilesAggregator summarizes the distribution of a float value per
// accumulator with a Quantiles sketch: Acc is *Quantiles, Out a
// QuantileSummary. Build one with QuantilesOf.
type QuantilesAggregator[In any] struct {
	value     func(In) float64
	quantiles []float64
	accuracy  float64
}

// QuantilesOf returns an aggregator reporting the given quantiles (each in
// [0, 1], e.g. 0.5 and 0.95) of value(in), such as the median and p95 of
// listen time per track per window. Values that cannot be tracked are counted
// in QuantileSummary.Rejected, not silently dropped.
func QuantilesOf[In any](value func(In) float64, quantiles []float64, opts ...QuantilesOption) QuantilesAggregator[In] {
	if value == nil {
		panic("sketch: QuantilesOf: nil value function")
	}
	for _, q := range quantiles {
		if !(q >= 0 && q <= 1) {
			panic(fmt.Sprintf("sketch: QuantilesOf: quantile %v outside [0, 1]", q))
		}
	}
	c, err := newQuantilesConfig(opts)
	if err != nil {
		panic(err)
	}
	return QuantilesAggregator[In]{value: value, quantiles: slices.Clone(quantiles), accuracy: c.accuracy}
}

// New returns an empty Quantiles of the aggregator's accuracy.
func (a QuantilesAggregator[In]) New() *Quantiles { return newQuantiles(a.accuracy) }

// Add adds value(in) to acc and returns acc; an untrackable value is
// counted by acc.Rejected.
func (a QuantilesAggregator[In]) Add(acc *Quantiles, in In) *Quantiles {
	_ = acc.Add(a.value(in)) // counted in acc.Rejected
	return acc
}

// Merge folds y into x and returns x. It panics if the two have different
// accuracies, which accumulators of one aggregator never have.
func (a QuantilesAggregator[In]) Merge(x, y *Quantiles) *Quantiles {
	if x == nil {
		return y
	}
	if err := x.Merge(y); err != nil {
		panic(err)
	}
	return x
}

// Result returns the count and the configured quantiles of acc.
func (a QuantilesAggregator[In]) Result(acc *Quantiles) QuantileSummary {
	s := QuantileSummary{Count: acc.Count(), Values: make([]float64, len(a.quantiles)), Rejected: acc.Rejected()}
	for i, q := range a.quantiles {
		v, err := acc.Quantile(q)
		if err != nil {
			v = math.NaN()
		}
		s.Values[i] = v
	}
	return s
}
