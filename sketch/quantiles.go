package sketch

import (
	"errors"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

const (
	// DefaultRelativeAccuracy is the relative accuracy of Quantiles when none
	// is given: a returned quantile is within 1 % of the true one.
	DefaultRelativeAccuracy = 0.01
	// MinRelativeAccuracy and MaxRelativeAccuracy bound the relative accuracy
	// NewQuantiles and UnmarshalBinary accept. The lower bound caps the number
	// of bins a decoded sketch may span (about 710/accuracy).
	MinRelativeAccuracy = 0.001
	MaxRelativeAccuracy = 0.5
)

// QuantilesOption configures NewQuantiles and QuantilesOf. It is a sealed
// interface: only this package's With… functions make one.
type QuantilesOption interface{ applyQuantiles(*quantilesConfig) }

type quantilesConfig struct{ accuracy float64 }

type quantilesOptionFunc func(*quantilesConfig)

func (f quantilesOptionFunc) applyQuantiles(c *quantilesConfig) { f(c) }

// WithRelativeAccuracy sets the relative accuracy α in [MinRelativeAccuracy,
// MaxRelativeAccuracy]: every quantile returned is within a factor 1±α of a
// value of the input at that rank. Memory grows as 1/α: at 1 %, about 115
// bins (under 1 KiB) per decade of value range.
func WithRelativeAccuracy(a float64) QuantilesOption {
	return quantilesOptionFunc(func(c *quantilesConfig) { c.accuracy = a })
}

func newQuantilesConfig(opts []QuantilesOption) (quantilesConfig, error) {
	c := quantilesConfig{accuracy: DefaultRelativeAccuracy}
	for _, o := range opts {
		o.applyQuantiles(&c)
	}
	if !(c.accuracy >= MinRelativeAccuracy && c.accuracy <= MaxRelativeAccuracy) {
		return c, fmt.Errorf("%w: relative accuracy %v outside [%v, %v]", ErrInvalidOption, c.accuracy, MinRelativeAccuracy, MaxRelativeAccuracy)
	}
	return c, nil
}

// Quantiles is a relative-error quantile sketch: DDSketch (Masson, Rim, Lee,
// VLDB 2019) from github.com/DataDog/sketches-go with a logarithmic index
// mapping and DataDog's default buffered paginated stores. For any quantile
// q, Quantile(q) is within a factor 1±α of the input value of rank
// ⌊q·(Count-1)⌋, whatever the distribution; negative values and zero are
// supported. Merging is exact: the merge of two sketches equals the sketch of
// the concatenated input.
//
// Quantiles also keeps the exact smallest and largest value added, and
// clamps every quantile to them: a quantile is never below the minimum or
// above the maximum of the input (DDSketch alone can overshoot either by up
// to α). A sketch decoded from an encoding without them (DDSketch's plain
// format) has bounds only as exact as its bins, and Min, Max and Quantile
// say so by not clamping.
//
// Quantiles is not safe for concurrent use, not even for concurrent queries
// (the store sorts its buffer when queried); keep one per goroutine and Merge
// them. The zero value is an empty sketch of DefaultRelativeAccuracy.
type Quantiles struct {
	sk       *ddsketch.DDSketch
	rejected uint64
	// min and max are the exact extremes of the values added, when
	// bounded; inexact means some values came from an encoding without
	// them, so the extremes are unknown (and bounded is false).
	min, max float64
	bounded  bool
	inexact  bool
}

// NewQuantiles returns an empty Quantiles. An out-of-range accuracy returns
// an error wrapping ErrInvalidOption.
func NewQuantiles(opts ...QuantilesOption) (*Quantiles, error) {
	c, err := newQuantilesConfig(opts)
	if err != nil {
		return nil, err
	}
	return newQuantiles(c.accuracy), nil
}

func newQuantiles(accuracy float64) *Quantiles {
	m, err := mapping.NewLogarithmicMapping(accuracy)
	if err != nil { // unreachable: the accuracy was validated
		panic(fmt.Sprintf("sketch: %v", err))
	}
	return &Quantiles{sk: newDDSketch(m)}
}

func newDDSketch(m mapping.IndexMapping) *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(m, store.NewBufferedPaginatedStore(), store.NewBufferedPaginatedStore())
}

func (q *Quantiles) lazyInit() {
	if q.sk == nil {
		*q = *newQuantiles(DefaultRelativeAccuracy)
	}
}

// Add adds the value v. NaN, ±Inf and values whose magnitude exceeds the
// mapping's range return an error wrapping ErrUntrackable; they are counted
// by Rejected and otherwise ignored.
func (q *Quantiles) Add(v float64) error { return q.AddN(v, 1) }

// AddN adds the value v n times, in one step: the sketch is the one n
// calls of Add(v) make, for the cost of one. n = 0 adds nothing. An
// untrackable v returns an error wrapping ErrUntrackable and counts as n
// refused values in Rejected; an n above MaxEncodedCount (which a float64
// count, and the encoding, cannot hold exactly) returns an error wrapping
// ErrInvalidOption and adds nothing.
func (q *Quantiles) AddN(v float64, n uint64) error {
	if n == 0 {
		return nil
	}
	if n > MaxEncodedCount {
		return fmt.Errorf("%w: count %d above %d", ErrInvalidOption, n, uint64(MaxEncodedCount))
	}
	if q.sk == nil {
		q.lazyInit()
	}
	if err := q.sk.AddWithCount(v, float64(n)); err != nil {
		q.rejected += n
		return fmt.Errorf("%w: %v: %w", ErrUntrackable, v, err)
	}
	q.widen(v, v)
	return nil
}

// widen extends the exact bounds to [lo, hi].
func (q *Quantiles) widen(lo, hi float64) {
	switch {
	case q.inexact:
	case !q.bounded:
		q.min, q.max, q.bounded = lo, hi, true
	default:
		q.min, q.max = min(q.min, lo), max(q.max, hi)
	}
}

// Min returns the smallest value added: exact, unless the sketch holds
// values decoded from an encoding without bounds (then within α). An empty
// sketch returns an error wrapping ErrEmpty.
func (q *Quantiles) Min() (float64, error) {
	if q.sk == nil || q.sk.IsEmpty() {
		return math.NaN(), fmt.Errorf("%w: minimum of no values", ErrEmpty)
	}
	if q.bounded {
		return q.min, nil
	}
	return q.sk.GetMinValue()
}

// Max returns the largest value added, exact as Min is.
func (q *Quantiles) Max() (float64, error) {
	if q.sk == nil || q.sk.IsEmpty() {
		return math.NaN(), fmt.Errorf("%w: maximum of no values", ErrEmpty)
	}
	if q.bounded {
		return q.max, nil
	}
	return q.sk.GetMaxValue()
}

// Rejected returns how many values Add and AddN refused, summed over
// merged sketches. It is not part of the binary encoding.
func (q *Quantiles) Rejected() uint64 { return q.rejected }

// Count returns the number of values in the sketch (a float64, as DDSketch
// counts are weights).
func (q *Quantiles) Count() float64 {
	if q.sk == nil {
		return 0
	}
	return q.sk.GetCount()
}

// RelativeAccuracy returns α.
func (q *Quantiles) RelativeAccuracy() float64 {
	if q.sk == nil {
		return DefaultRelativeAccuracy
	}
	return q.sk.RelativeAccuracy()
}

// Quantile returns the value at quantile p in [0, 1] (0.5 the median, 0.99
// the 99th percentile) with relative error at most α. An empty sketch returns
// an error wrapping ErrEmpty; p outside [0, 1] one wrapping ErrInvalidOption.
func (q *Quantiles) Quantile(p float64) (float64, error) {
	if !(p >= 0 && p <= 1) {
		return math.NaN(), fmt.Errorf("%w: quantile %v outside [0, 1]", ErrInvalidOption, p)
	}
	if q.sk == nil || q.sk.IsEmpty() {
		return math.NaN(), fmt.Errorf("%w: quantile of no values", ErrEmpty)
	}
	v, err := q.sk.GetValueAtQuantile(p)
	if err == nil && q.bounded {
		v = min(max(v, q.min), q.max)
	}
	return v, err
}

// Merge folds other into q, so that q summarizes both inputs. other is not
// modified; merging q with itself doubles every count. Sketches of different
// accuracies return an error wrapping ErrIncompatible and leave q unchanged.
func (q *Quantiles) Merge(other *Quantiles) error {
	if other == nil || other.sk == nil {
		return nil
	}
	if other == q {
		other = q.Clone()
	}
	if q.sk == nil {
		*q = *other.Clone()
		return nil
	}
	qEmpty, otherEmpty := q.sk.IsEmpty(), other.sk.IsEmpty()
	if err := q.sk.MergeWith(other.sk); err != nil {
		return fmt.Errorf("%w: Quantiles accuracy %v vs %v: %v", ErrIncompatible, q.RelativeAccuracy(), other.RelativeAccuracy(), err)
	}
	q.rejected += other.rejected
	switch {
	case otherEmpty:
	case qEmpty:
		q.min, q.max, q.bounded, q.inexact = other.min, other.max, other.bounded, other.inexact
	case other.inexact:
		q.bounded, q.inexact = false, true
	default:
		q.widen(other.min, other.max)
	}
	return nil
}

// Clone returns an independent copy of q.
func (q *Quantiles) Clone() *Quantiles {
	c := *q
	if q.sk != nil {
		c.sk = q.sk.Copy()
	}
	return &c
}

// Reset empties q, keeping its accuracy.
func (q *Quantiles) Reset() {
	if q.sk != nil {
		q.sk.Clear()
	}
	q.rejected = 0
	q.min, q.max, q.bounded, q.inexact = 0, 0, false, false
}

// MarshalBinary encodes q in DDSketch's own compact binary format (the one
// ddsketch.DDSketch.Encode writes, index mapping included), preceded by the
// exact minimum and maximum in that format's summary-statistics fields
// (which ddsketch.DecodeDDSketch skips), so the bytes can also be read by
// ddsketch.DecodeDDSketch. Rejected is not encoded.
func (q *Quantiles) MarshalBinary() ([]byte, error) { return q.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (q *Quantiles) AppendBinary(b []byte) ([]byte, error) {
	q.lazyInit()
	if q.bounded && !q.sk.IsEmpty() {
		enc.EncodeFlag(&b, enc.FlagMin)
		enc.EncodeFloat64LE(&b, q.min)
		enc.EncodeFlag(&b, enc.FlagMax)
		enc.EncodeFloat64LE(&b, q.max)
	}
	q.sk.Encode(&b, false)
	return b, nil
}

// qbin is one decoded bin.
type qbin struct {
	negative bool
	index    int64
	count    float64
}

// maxIndexMagnitude bounds decoded bin indexes while they are accumulated
// from deltas, before the mapping's exact range is checked; the mapping
// keeps real indexes within int32.
const maxIndexMagnitude = 1 << 32

// UnmarshalBinary replaces q with the sketch encoded in data, in the format
// MarshalBinary writes. Unlike ddsketch.DecodeDDSketch, it validates
// everything before building the sketch: exactly one logarithmic index
// mapping with an accuracy in [MinRelativeAccuracy, MaxRelativeAccuracy],
// bin counts bounded by the input length, bin indexes inside the mapping's
// range, whole non-negative counts of at most 2^53-1 in all (see
// MaxEncodedCount), no trailing or unknown fields. Malformed data returns an
// error wrapping ErrCorrupt and leaves q unchanged.
func (q *Quantiles) UnmarshalBinary(data []byte) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: Quantiles: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	var (
		m        *mapping.LogarithmicMapping
		zero     float64
		bins     []qbin
		bounds   [2]float64 // min, max
		hasBound [2]bool
	)
	b := data
	for len(b) > 0 {
		flag, err := enc.DecodeFlag(&b)
		if err != nil {
			return corrupt("%v", err)
		}
		switch flag.Type() {
		case enc.FlagTypePositiveStore, enc.FlagTypeNegativeStore:
			bins, err = decodeBins(&b, flag.SubFlag(), flag.Type() == enc.FlagTypeNegativeStore, bins)
			if err != nil {
				return corrupt("%v", err)
			}
		case enc.FlagTypeIndexMapping:
			if flag != enc.FlagIndexMappingBaseLogarithmic {
				return corrupt("unsupported index mapping")
			}
			if m != nil {
				return corrupt("second index mapping")
			}
			if m, err = decodeMapping(&b); err != nil {
				return corrupt("%v", err)
			}
		default:
			if flag == enc.FlagMin || flag == enc.FlagMax {
				i := 0
				if flag == enc.FlagMax {
					i = 1
				}
				if hasBound[i] {
					return corrupt("second minimum or maximum")
				}
				v, err := enc.DecodeFloat64LE(&b)
				if err != nil {
					return corrupt("minimum or maximum: %v", err)
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return corrupt("minimum or maximum %v", v)
				}
				bounds[i], hasBound[i] = v, true
				continue
			}
			if flag != enc.FlagZeroCountVarFloat {
				return corrupt("unsupported field")
			}
			v, err := enc.DecodeVarfloat64(&b)
			if err != nil {
				return corrupt("zero count: %v", err)
			}
			if !validCount(v) {
				return corrupt("zero count %v", v)
			}
			zero += v
		}
	}
	if m == nil {
		return corrupt("no index mapping")
	}
	lo, hi := int64(m.Index(m.MinIndexableValue())), int64(m.Index(m.MaxIndexableValue()))
	total := zero
	for _, bn := range bins {
		if bn.index < lo || bn.index > hi {
			return corrupt("bin index %d outside the mapping's range [%d, %d]", bn.index, lo, hi)
		}
		total += bn.count
	}
	if !(total <= MaxEncodedCount) {
		return corrupt("total count %v above %v", total, float64(MaxEncodedCount))
	}
	sk := newDDSketch(m)
	if zero > 0 {
		if err := sk.AddWithCount(0, zero); err != nil {
			return corrupt("zero count: %v", err)
		}
	}
	pos, neg := sk.GetPositiveValueStore(), sk.GetNegativeValueStore()
	for _, bn := range bins {
		if bn.negative {
			neg.AddWithCount(int(bn.index), bn.count)
		} else {
			pos.AddWithCount(int(bn.index), bn.count)
		}
	}
	decoded := Quantiles{sk: sk}
	switch {
	case hasBound[0] != hasBound[1]:
		return corrupt("a minimum without a maximum, or the reverse")
	case hasBound[0] && sk.IsEmpty():
		return corrupt("bounds of an empty sketch")
	case hasBound[0]:
		// The bounds must fall in the lowest and highest non-empty bins.
		if bounds[0] > bounds[1] || bucketOf(m, bounds[0]) != lowestBucket(sk) || bucketOf(m, bounds[1]) != highestBucket(sk) {
			return corrupt("minimum %v and maximum %v do not match the bins", bounds[0], bounds[1])
		}
		decoded.min, decoded.max, decoded.bounded = bounds[0], bounds[1], true
	case !sk.IsEmpty():
		decoded.inexact = true
	}
	*q = decoded
	return nil
}

// bucket is where a value lands in a sketch: its sign class (-1, 0 for the
// zero bucket, 1) and bin index.
type bucket struct{ sign, index int }

func bucketOf(m mapping.IndexMapping, v float64) bucket {
	switch {
	case v > m.MinIndexableValue():
		return bucket{1, m.Index(v)}
	case v < -m.MinIndexableValue():
		return bucket{-1, m.Index(-v)}
	}
	return bucket{}
}

func lowestBucket(sk *ddsketch.DDSketch) bucket {
	if neg := sk.GetNegativeValueStore(); !neg.IsEmpty() {
		i, _ := neg.MaxIndex()
		return bucket{-1, i}
	}
	if sk.GetZeroCount() > 0 {
		return bucket{}
	}
	i, _ := sk.GetPositiveValueStore().MinIndex()
	return bucket{1, i}
}

func highestBucket(sk *ddsketch.DDSketch) bucket {
	if pos := sk.GetPositiveValueStore(); !pos.IsEmpty() {
		i, _ := pos.MaxIndex()
		return bucket{1, i}
	}
	if sk.GetZeroCount() > 0 {
		return bucket{}
	}
	i, _ := sk.GetNegativeValueStore().MinIndex()
	return bucket{-1, i}
}

// MaxEncodedCount is the largest total count UnmarshalBinary accepts,
// 2^53-1. DDSketch's format writes a count c as the float64 bits of c+1,
// which rounds for a c of 2^53 or more (and for fractions), so such a count
// would change in an encode/decode round trip. Quantiles only ever holds
// whole counts, and whole numbers up to 2^53-1, and their sums up to it,
// are exact in a float64 and in the encoding.
const MaxEncodedCount = 1<<53 - 1

// validCount reports whether c is a whole count an encoding can carry.
func validCount(c float64) bool { return c >= 0 && c <= MaxEncodedCount && c == math.Trunc(c) }

func decodeMapping(b *[]byte) (*mapping.LogarithmicMapping, error) {
	gamma, err := enc.DecodeFloat64LE(b)
	if err != nil {
		return nil, fmt.Errorf("mapping gamma: %w", err)
	}
	offset, err := enc.DecodeFloat64LE(b)
	if err != nil {
		return nil, fmt.Errorf("mapping offset: %w", err)
	}
	if !(gamma > 1) || math.IsInf(gamma, 0) {
		return nil, fmt.Errorf("mapping gamma %v", gamma)
	}
	// Allow for rounding in γ = (1+α)/(1-α) at the bounds.
	if a := (gamma - 1) / (gamma + 1); a < MinRelativeAccuracy*(1-1e-9) || a > MaxRelativeAccuracy*(1+1e-9) {
		return nil, fmt.Errorf("mapping accuracy %v outside [%v, %v]", a, MinRelativeAccuracy, MaxRelativeAccuracy)
	}
	if !(math.Abs(offset) <= math.MaxInt32) {
		return nil, fmt.Errorf("mapping index offset %v", offset)
	}
	m, err := mapping.NewLogarithmicMappingWithGamma(gamma, offset)
	if err != nil {
		return nil, err
	}
	if !(m.MinIndexableValue() < m.MaxIndexableValue()) {
		return nil, errors.New("mapping has an empty range")
	}
	return m, nil
}

// decodeBins reads one store's bins in any of DDSketch's three bin encodings
// and appends them to bins. Every bin consumes at least one byte, so the
// number of bins is bounded by the input length before anything is
// allocated for them.
func decodeBins(b *[]byte, mode enc.SubFlag, negative bool, bins []qbin) ([]qbin, error) {
	numBins, err := enc.DecodeUvarint64(b)
	if err != nil {
		return bins, fmt.Errorf("bin count: %w", err)
	}
	minBytes := uint64(1)
	if mode == enc.BinEncodingIndexDeltasAndCounts {
		minBytes = 2
	}
	if numBins > uint64(len(*b))/minBytes {
		return bins, fmt.Errorf("%d bins in %d bytes", numBins, len(*b))
	}
	step := func(index, delta int64) (int64, error) {
		if delta > maxIndexMagnitude || delta < -maxIndexMagnitude {
			return 0, fmt.Errorf("bin index delta %d", delta)
		}
		index += delta
		if index > maxIndexMagnitude || index < -maxIndexMagnitude {
			return 0, fmt.Errorf("bin index %d", index)
		}
		return index, nil
	}
	count := func() (float64, error) {
		c, err := enc.DecodeVarfloat64(b)
		if err != nil {
			return 0, fmt.Errorf("bin count: %w", err)
		}
		if !validCount(c) {
			return 0, fmt.Errorf("bin count %v", c)
		}
		return c, nil
	}
	var index int64
	switch mode {
	case enc.BinEncodingIndexDeltasAndCounts, enc.BinEncodingIndexDeltas:
		for range numBins {
			delta, err := enc.DecodeVarint64(b)
			if err != nil {
				return bins, fmt.Errorf("bin index: %w", err)
			}
			if index, err = step(index, delta); err != nil {
				return bins, err
			}
			c := 1.0
			if mode == enc.BinEncodingIndexDeltasAndCounts {
				if c, err = count(); err != nil {
					return bins, err
				}
			}
			bins = append(bins, qbin{negative: negative, index: index, count: c})
		}
	case enc.BinEncodingContiguousCounts:
		start, err := enc.DecodeVarint64(b)
		if err != nil {
			return bins, fmt.Errorf("first bin index: %w", err)
		}
		if index, err = step(0, start); err != nil {
			return bins, err
		}
		delta, err := enc.DecodeVarint64(b)
		if err != nil {
			return bins, fmt.Errorf("bin index delta: %w", err)
		}
		for i := range numBins {
			if i > 0 {
				if index, err = step(index, delta); err != nil {
					return bins, err
				}
			}
			c, err := count()
			if err != nil {
				return bins, err
			}
			bins = append(bins, qbin{negative: negative, index: index, count: c})
		}
	default:
		return bins, errors.New("unknown bin encoding")
	}
	return bins, nil
}
