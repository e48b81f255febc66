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
// Quantiles is not safe for concurrent use, not even for concurrent queries
// (the store sorts its buffer when queried); keep one per goroutine and Merge
// them. The zero value is an empty sketch of DefaultRelativeAccuracy.
type Quantiles struct {
	sk       *ddsketch.DDSketch
	rejected uint64
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
func (q *Quantiles) Add(v float64) error {
	if q.sk == nil {
		q.lazyInit()
	}
	if err := q.sk.Add(v); err != nil {
		q.rejected++
		return fmt.Errorf("%w: %v: %w", ErrUntrackable, v, err)
	}
	return nil
}

// Rejected returns how many Add calls were refused, summed over merged
// sketches. It is not part of the binary encoding.
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
	return q.sk.GetValueAtQuantile(p)
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
	if err := q.sk.MergeWith(other.sk); err != nil {
		return fmt.Errorf("%w: Quantiles accuracy %v vs %v: %v", ErrIncompatible, q.RelativeAccuracy(), other.RelativeAccuracy(), err)
	}
	q.rejected += other.rejected
	return nil
}

// Clone returns an independent copy of q.
func (q *Quantiles) Clone() *Quantiles {
	if q.sk == nil {
		return &Quantiles{rejected: q.rejected}
	}
	return &Quantiles{sk: q.sk.Copy(), rejected: q.rejected}
}

// Reset empties q, keeping its accuracy.
func (q *Quantiles) Reset() {
	if q.sk != nil {
		q.sk.Clear()
	}
	q.rejected = 0
}

// MarshalBinary encodes q in DDSketch's own compact binary format (the one
// ddsketch.DDSketch.Encode writes, index mapping included), so the bytes can
// also be read by ddsketch.DecodeDDSketch. Rejected is not encoded.
func (q *Quantiles) MarshalBinary() ([]byte, error) { return q.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (q *Quantiles) AppendBinary(b []byte) ([]byte, error) {
	q.lazyInit()
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
// range, finite non-negative counts, no trailing or unknown fields. Malformed
// data returns an error wrapping ErrCorrupt and leaves q unchanged.
func (q *Quantiles) UnmarshalBinary(data []byte) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: Quantiles: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	var (
		m    *mapping.LogarithmicMapping
		zero float64
		bins []qbin
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
	if math.IsInf(total, 0) {
		return corrupt("total count overflows")
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
	*q = Quantiles{sk: sk}
	return nil
}

func validCount(c float64) bool { return c >= 0 && !math.IsInf(c, 0) }

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
