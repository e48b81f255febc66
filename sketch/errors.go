package sketch

import "errors"

var (
	// ErrCorrupt is wrapped by every UnmarshalBinary error caused by the
	// bytes themselves (truncated, malformed or inconsistent input).
	ErrCorrupt = errors.New("sketch: corrupt encoding")
	// ErrIncompatible is wrapped by Merge when two sketches cannot be
	// combined: different HLL precisions, TopK capacities or Quantiles
	// accuracies.
	ErrIncompatible = errors.New("sketch: incompatible sketches")
	// ErrInvalidOption is wrapped by constructors given an out-of-range
	// parameter.
	ErrInvalidOption = errors.New("sketch: invalid option")
	// ErrEmpty is wrapped by queries that have no answer on an empty sketch,
	// such as a quantile of no values.
	ErrEmpty = errors.New("sketch: empty sketch")
	// ErrUntrackable is wrapped by Quantiles.Add for values the sketch
	// cannot hold: NaN, ±Inf and magnitudes beyond the index mapping's range
	// (about 1.7e308 at 1 % accuracy).
	ErrUntrackable = errors.New("sketch: value cannot be tracked")
)
