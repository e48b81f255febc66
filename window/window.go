package window

import (
	"strconv"

	"github.com/brook-streams/brook/stream"
)

// Span is the extent of one window: the half-open interval [Start, End) of
// event time (or of processing time, for processing-time windows).
type Span struct {
	Start, End stream.Time
}

// Contains reports whether t lies in the span: Start <= t < End.
func (s Span) Contains(t stream.Time) bool { return s.Start <= t && t < s.End }

// String formats the span as "[start, end)".
func (s Span) String() string { return "[" + s.Start.String() + ", " + s.End.String() + ")" }

// Firing says why a window emitted a result.
type Firing uint8

const (
	// OnTime is the firing when the watermark reaches End-1 (for
	// processing-time windows: when the clock reaches End; for global
	// windows: the count trigger or the end of input; with [FireOnClose]:
	// when the window closes).
	OnTime Firing = iota
	// Early is an update emitted before the window's on-time firing by
	// [EarlyEvery] or [EarlyInterval]. Results accumulate: an early result
	// covers every record of the window so far.
	Early
	// Late is an updated result emitted when a record arrives after the
	// window's on-time firing but within the allowed lateness. It covers
	// every record of the window so far, the late one included.
	Late
)

// String returns "on-time", "early" or "late".
func (f Firing) String() string {
	switch f {
	case OnTime:
		return "on-time"
	case Early:
		return "early"
	case Late:
		return "late"
	}
	return "firing(" + strconv.Itoa(int(f)) + ")"
}

// Result is one firing of one window for one key. It travels downstream at
// time End-1, the last instant of the window (with [FireOnClose]: at
// End-1 plus the allowed lateness, the watermark that closed the window).
type Result[K comparable, Out any] struct {
	Key        K
	Start, End stream.Time
	Value      Out
	Firing     Firing
}

// Span returns the result's window.
func (r Result[K, Out]) Span() Span { return Span{Start: r.Start, End: r.End} }

// LateRecord is a record that arrived after every window it belongs to had
// closed (its watermark had passed End-1 plus the allowed lateness). It never
// enters a window; it goes to the late output with the windows it missed.
type LateRecord[T any] struct {
	Record  stream.Record[T]
	Windows []Span
}

// Saturating arithmetic on stream.Time: windows near the ends of the time
// range are clipped instead of wrapping around.

func addSat(t, d stream.Time) stream.Time {
	s := t + d
	if d > 0 && s < t {
		return stream.MaxTime
	}
	if d < 0 && s > t {
		return stream.MinTime
	}
	return s
}

// mod returns x mod m in [0, m) for m > 0 (a true modulo, also for x < 0).
func mod(x, m stream.Time) stream.Time {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// back returns the distance from t back to the latest start k*step+offset
// that is <= t: (t - offset) mod step, computed without overflow.
func back(t, step, offset stream.Time) stream.Time {
	r := mod(t, step) - mod(offset, step) // in (-step, step)
	if r < 0 {
		r += step
	}
	return r
}

// closeAt returns the watermark at which a window ending at end closes:
// end - 1 + lateness, saturating.
func closeAt(end, lateness stream.Time) stream.Time { return addSat(end-1, lateness) }
