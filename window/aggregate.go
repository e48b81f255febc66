package window

import (
	"cmp"
	"math"
)

// Aggregator folds a window's records into an accumulator incrementally, so
// a window holds one accumulator per key instead of its raw records (the
// shape of Flink's AggregateFunction).
//
// New returns an empty accumulator. Add folds one value into acc and returns
// the new accumulator. Merge combines two accumulators into one covering both
// (used when session windows merge). Result turns an accumulator into the
// output; it may be called several times on the same accumulator (early and
// late firings), so it must not change acc in a way that Add or Merge would
// notice, nor keep it.
//
// Add and Merge may change and return their first argument (an accumulator
// may be a pointer); the window operator always keeps the returned value and
// never uses an accumulator after passing it as Merge's second argument.
// Methods are called from one goroutine per operator instance, but different
// instances call them concurrently, so an Aggregator value must not hold
// mutable state of its own.
//
// Accumulators that should survive a checkpoint need a codec ([codec.For]):
// a basic type or a BinaryMarshaler (encoded compactly), or else a type
// encoding/gob can encode (exported fields), gob being the fallback.
type Aggregator[In, Acc, Out any] interface {
	New() Acc
	Add(acc Acc, in In) Acc
	Merge(a, b Acc) Acc
	Result(acc Acc) Out
}

// FinalResulter is implemented by an [Aggregator] whose result can take
// its accumulator over. Under [FireOnClose] a window fires once per key,
// at its close, and the operator drops the accumulator right after: it
// then calls FinalResult instead of Result, so the result may be the
// accumulator itself, or share its memory, where Result must return a
// value independent of it. Without FireOnClose, FinalResult is not called.
type FinalResulter[Acc, Out any] interface {
	FinalResult(acc Acc) Out
}

// Number is the constraint of the values [Sum] and [Mean] add up.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// Count returns the aggregator counting the records of a window.
func Count[T any]() Aggregator[T, int64, int64] { return countAgg[T]{} }

type countAgg[T any] struct{}

func (countAgg[T]) New() int64               { return 0 }
func (countAgg[T]) Add(acc int64, _ T) int64 { return acc + 1 }
func (countAgg[T]) Merge(a, b int64) int64   { return a + b }
func (countAgg[T]) Result(acc int64) int64   { return acc }

// Sum returns the aggregator summing field(v) over a window's values.
func Sum[T any, N Number](field func(T) N) Aggregator[T, N, N] { return sumAgg[T, N]{field: field} }

type sumAgg[T any, N Number] struct{ field func(T) N }

func (sumAgg[T, N]) New() N             { return 0 }
func (s sumAgg[T, N]) Add(acc N, v T) N { return acc + s.field(v) }
func (sumAgg[T, N]) Merge(a, b N) N     { return a + b }
func (sumAgg[T, N]) Result(acc N) N     { return acc }

// Extremum is the accumulator of [Min] and [Max]: the extreme value seen so
// far, and whether any value was seen.
type Extremum[V cmp.Ordered] struct {
	Value V
	Set   bool
}

// Min returns the aggregator of the smallest field(v) of a window. NaNs are
// ordered before every other float, as by [cmp.Compare].
func Min[T any, V cmp.Ordered](field func(T) V) Aggregator[T, Extremum[V], V] {
	return extremumAgg[T, V]{field: field, sign: -1}
}

// Max returns the aggregator of the largest field(v) of a window.
func Max[T any, V cmp.Ordered](field func(T) V) Aggregator[T, Extremum[V], V] {
	return extremumAgg[T, V]{field: field, sign: 1}
}

type extremumAgg[T any, V cmp.Ordered] struct {
	field func(T) V
	sign  int
}

func (extremumAgg[T, V]) New() Extremum[V] { return Extremum[V]{} }

func (e extremumAgg[T, V]) Add(acc Extremum[V], v T) Extremum[V] {
	return e.Merge(acc, Extremum[V]{Value: e.field(v), Set: true})
}

func (e extremumAgg[T, V]) Merge(a, b Extremum[V]) Extremum[V] {
	if !b.Set {
		return a
	}
	if !a.Set || cmp.Compare(b.Value, a.Value) == e.sign {
		return b
	}
	return a
}

func (extremumAgg[T, V]) Result(acc Extremum[V]) V { return acc.Value }

// MeanAcc is the accumulator of [Mean]: a sum and a count.
type MeanAcc struct {
	Sum float64
	N   int64
}

// Mean returns the aggregator of the arithmetic mean of field(v) over a
// window, in float64. The mean of no values is NaN.
func Mean[T any, N Number](field func(T) N) Aggregator[T, MeanAcc, float64] {
	return meanAgg[T, N]{field: field}
}

type meanAgg[T any, N Number] struct{ field func(T) N }

func (meanAgg[T, N]) New() MeanAcc { return MeanAcc{} }

func (m meanAgg[T, N]) Add(acc MeanAcc, v T) MeanAcc {
	return MeanAcc{Sum: acc.Sum + float64(m.field(v)), N: acc.N + 1}
}

func (meanAgg[T, N]) Merge(a, b MeanAcc) MeanAcc { return MeanAcc{Sum: a.Sum + b.Sum, N: a.N + b.N} }

func (meanAgg[T, N]) Result(acc MeanAcc) float64 {
	if acc.N == 0 {
		return math.NaN()
	}
	return acc.Sum / float64(acc.N)
}

// Pair holds two values: the accumulators and results of [Both].
type Pair[A, B any] struct {
	First  A
	Second B
}

// Both composes two aggregators over the same input into one whose
// accumulator and result are pairs: one pass computes both.
func Both[T, A1, O1, A2, O2 any](a Aggregator[T, A1, O1], b Aggregator[T, A2, O2]) Aggregator[T, Pair[A1, A2], Pair[O1, O2]] {
	return bothAgg[T, A1, O1, A2, O2]{a: a, b: b}
}

type bothAgg[T, A1, O1, A2, O2 any] struct {
	a Aggregator[T, A1, O1]
	b Aggregator[T, A2, O2]
}

func (g bothAgg[T, A1, O1, A2, O2]) New() Pair[A1, A2] {
	return Pair[A1, A2]{First: g.a.New(), Second: g.b.New()}
}

func (g bothAgg[T, A1, O1, A2, O2]) Add(acc Pair[A1, A2], v T) Pair[A1, A2] {
	return Pair[A1, A2]{First: g.a.Add(acc.First, v), Second: g.b.Add(acc.Second, v)}
}

func (g bothAgg[T, A1, O1, A2, O2]) Merge(x, y Pair[A1, A2]) Pair[A1, A2] {
	return Pair[A1, A2]{First: g.a.Merge(x.First, y.First), Second: g.b.Merge(x.Second, y.Second)}
}

func (g bothAgg[T, A1, O1, A2, O2]) Result(acc Pair[A1, A2]) Pair[O1, O2] {
	return Pair[O1, O2]{First: g.a.Result(acc.First), Second: g.b.Result(acc.Second)}
}

// Triple holds three values: the accumulators and results of [Tuple3].
type Triple[A, B, C any] struct {
	First  A
	Second B
	Third  C
}

// Tuple3 composes three aggregators over the same input into one whose
// accumulator and result are triples. Nest [Both] for more.
func Tuple3[T, A1, O1, A2, O2, A3, O3 any](a Aggregator[T, A1, O1], b Aggregator[T, A2, O2], c Aggregator[T, A3, O3]) Aggregator[T, Triple[A1, A2, A3], Triple[O1, O2, O3]] {
	return tuple3Agg[T, A1, O1, A2, O2, A3, O3]{a: a, b: b, c: c}
}

type tuple3Agg[T, A1, O1, A2, O2, A3, O3 any] struct {
	a Aggregator[T, A1, O1]
	b Aggregator[T, A2, O2]
	c Aggregator[T, A3, O3]
}

func (g tuple3Agg[T, A1, O1, A2, O2, A3, O3]) New() Triple[A1, A2, A3] {
	return Triple[A1, A2, A3]{First: g.a.New(), Second: g.b.New(), Third: g.c.New()}
}

func (g tuple3Agg[T, A1, O1, A2, O2, A3, O3]) Add(acc Triple[A1, A2, A3], v T) Triple[A1, A2, A3] {
	return Triple[A1, A2, A3]{First: g.a.Add(acc.First, v), Second: g.b.Add(acc.Second, v), Third: g.c.Add(acc.Third, v)}
}

func (g tuple3Agg[T, A1, O1, A2, O2, A3, O3]) Merge(x, y Triple[A1, A2, A3]) Triple[A1, A2, A3] {
	return Triple[A1, A2, A3]{First: g.a.Merge(x.First, y.First), Second: g.b.Merge(x.Second, y.Second), Third: g.c.Merge(x.Third, y.Third)}
}

func (g tuple3Agg[T, A1, O1, A2, O2, A3, O3]) Result(acc Triple[A1, A2, A3]) Triple[O1, O2, O3] {
	return Triple[O1, O2, O3]{First: g.a.Result(acc.First), Second: g.b.Result(acc.Second), Third: g.c.Result(acc.Third)}
}
