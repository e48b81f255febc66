package stream

import (
	"math"
	"strconv"
	"time"
)

// Time is an event timestamp: nanoseconds since the Unix epoch, UTC.
//
// brook keeps event time as a compact integer inside the runtime and converts
// at the API edge with [TimeOf] and [Time.Std]. [MinTime] and [MaxTime] are
// the watermarks "nothing seen yet" and "end of input".
type Time int64

const (
	// MinTime is the smallest Time: the watermark before any record.
	MinTime Time = math.MinInt64
	// MaxTime is the largest Time: the watermark that ends an input, so
	// every window fires.
	MaxTime Time = math.MaxInt64
)

// TimeOf converts a time.Time to a Time. Times outside the int64 nanosecond
// range (years before 1678 or after 2262) saturate to MinTime+1 or MaxTime-1,
// so they never collide with the watermark sentinels.
func TimeOf(t time.Time) Time {
	s := t.Unix()
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	switch {
	case s > maxSec:
		return MaxTime - 1
	case s < -maxSec:
		return MinTime + 1
	}
	return Time(t.UnixNano())
}

// Std returns t as a time.Time in UTC.
func (t Time) Std() time.Time { return time.Unix(0, int64(t)).UTC() }

// Add returns t+d, saturating at MinTime and MaxTime instead of wrapping.
func (t Time) Add(d time.Duration) Time {
	s := t + Time(d)
	if d > 0 && s < t {
		return MaxTime
	}
	if d < 0 && s > t {
		return MinTime
	}
	return s
}

// String formats t as RFC 3339 with nanoseconds, or "-inf"/"+inf" for the
// sentinels.
func (t Time) String() string {
	switch t {
	case MinTime:
		return "-inf"
	case MaxTime:
		return "+inf"
	}
	if t > MaxTime-Time(time.Hour*24*365*10) || t < MinTime+Time(time.Hour*24*365*10) {
		return strconv.FormatInt(int64(t), 10) + "ns"
	}
	return t.Std().Format(time.RFC3339Nano)
}

// Record is a value with its event timestamp. Operators that transform the
// value (Map, Filter, ...) keep the timestamp, so the value type never has to
// carry one.
type Record[T any] struct {
	Time  Time
	Value T
}

// At returns a Record of v at time t.
func At[T any](v T, t Time) Record[T] { return Record[T]{Time: t, Value: v} }
