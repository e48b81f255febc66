package window

import (
	"errors"
	"fmt"
	"time"

	"github.com/brook-streams/brook/stream"
)

// ErrInvalid is wrapped by every error about a wrongly configured window
// (a non-positive size, a slide larger than the size, a bad option). Such
// errors are reported by [stream.Pipeline.Run], named after the window
// operator; they also wrap [stream.ErrInvalid].
var ErrInvalid = errors.New("window: invalid configuration")

type kind uint8

const (
	kindNone kind = iota
	kindTumbling
	kindSliding
	kindSession
	kindGlobal
)

// Assigner says which windows a record belongs to. Make one with
// [Tumbling], [Sliding], [Session] or [Global]; the zero Assigner is invalid.
//
// Event-time assigners (the default) place a record by its event time and
// fire windows as the watermark passes them. Processing-time assigners
// ([ProcessingTime]) place a record by the pipeline's injected clock when the
// operator receives it, and fire a window when the clock reaches its End;
// nothing is ever late in processing time.
type Assigner struct {
	kind   kind
	size   stream.Time
	slide  stream.Time
	offset stream.Time
	gap    stream.Time
	proc   bool
	hasOff bool
	err    error
}

// AssignerOption configures an Assigner: [Offset] or [ProcessingTime].
type AssignerOption interface{ applyAssigner(*Assigner) }

type assignerOptionFunc func(*Assigner)

func (f assignerOptionFunc) applyAssigner(a *Assigner) { f(a) }

// Offset shifts tumbling and sliding windows by d: window starts are
// k*step + d (for instance Offset(-5*time.Hour) aligns daily windows to a
// UTC-5 midnight). |d| must be smaller than the slide (the size, for
// tumbling windows).
func Offset(d time.Duration) AssignerOption {
	return assignerOptionFunc(func(a *Assigner) { a.offset, a.hasOff = stream.Time(d), true })
}

// ProcessingTime makes the assigner use processing time (the pipeline's
// injected [stream.Clock]) instead of event time.
func ProcessingTime() AssignerOption {
	return assignerOptionFunc(func(a *Assigner) { a.proc = true })
}

func newAssigner(a Assigner, opts []AssignerOption) Assigner {
	for _, o := range opts {
		if o == nil {
			a.err = fmt.Errorf("%w: nil assigner option", ErrInvalid)
			continue
		}
		o.applyAssigner(&a)
	}
	return a
}

// Tumbling returns an assigner of fixed-size, non-overlapping windows:
// a record at time t belongs to the window starting at
// floor((t - offset) / size) * size + offset — a true floor, so negative
// times land in the window below them.
func Tumbling(size time.Duration, opts ...AssignerOption) Assigner {
	return newAssigner(Assigner{kind: kindTumbling, size: stream.Time(size), slide: stream.Time(size)}, opts)
}

// Sliding returns an assigner of windows of the given size starting every
// slide: a record at time t belongs to every window starting at
// k*slide + offset with start <= t < start + size, that is to
// ceil(size/slide) windows or one fewer. slide must not exceed size.
func Sliding(size, slide time.Duration, opts ...AssignerOption) Assigner {
	return newAssigner(Assigner{kind: kindSliding, size: stream.Time(size), slide: stream.Time(slide)}, opts)
}

// Session returns an assigner of per-key activity sessions: each record at t
// opens the window [t, t+gap), and windows of the same key that overlap or
// touch merge into one spanning both, their accumulators merged. A session
// thus ends gap after its last record.
func Session(gap time.Duration, opts ...AssignerOption) Assigner {
	return newAssigner(Assigner{kind: kindSession, gap: stream.Time(gap)}, opts)
}

// Global returns the assigner of one window per key spanning all time,
// [stream.MinTime, stream.MaxTime). It fires at the end of input; with a
// [CountTrigger] it makes count windows (every n records of a key fire the
// window with the aggregate of those records and start it afresh), and
// [EarlyEvery] or [EarlyInterval] give running updates. A global window's
// state lives as long as its key is seen, and its results travel at time
// MaxTime-1.
func Global() Assigner {
	return Assigner{kind: kindGlobal}
}

// IsProcessingTime reports whether the assigner uses processing time.
func (a Assigner) IsProcessingTime() bool { return a.proc }

// String describes the assigner, e.g. "tumbling(1m0s)".
func (a Assigner) String() string {
	var s string
	switch a.kind {
	case kindTumbling:
		s = fmt.Sprintf("tumbling(%v", time.Duration(a.size))
	case kindSliding:
		s = fmt.Sprintf("sliding(%v, %v", time.Duration(a.size), time.Duration(a.slide))
	case kindSession:
		s = fmt.Sprintf("session(%v", time.Duration(a.gap))
	case kindGlobal:
		return "global"
	default:
		return "invalid assigner"
	}
	if a.offset != 0 {
		s += fmt.Sprintf(", offset %v", time.Duration(a.offset))
	}
	if a.proc {
		s += ", processing time"
	}
	return s + ")"
}

func (a Assigner) validate() error {
	if a.err != nil {
		return a.err
	}
	switch a.kind {
	case kindTumbling, kindSliding:
		if a.size <= 0 {
			return fmt.Errorf("%w: %v: size must be positive", ErrInvalid, a)
		}
		if a.slide <= 0 || a.slide > a.size {
			return fmt.Errorf("%w: %v: slide must be positive and at most the size", ErrInvalid, a)
		}
		if a.offset <= -a.slide || a.offset >= a.slide {
			return fmt.Errorf("%w: %v: |offset| must be smaller than the slide", ErrInvalid, a)
		}
	case kindSession:
		if a.gap <= 0 {
			return fmt.Errorf("%w: %v: gap must be positive", ErrInvalid, a)
		}
		if a.hasOff {
			return fmt.Errorf("%w: %v: offset applies to tumbling and sliding windows only", ErrInvalid, a)
		}
	case kindGlobal:
	default:
		return fmt.Errorf("%w: zero Assigner; use Tumbling, Sliding, Session or Global", ErrInvalid)
	}
	return nil
}

// Windows returns the windows a record at time t is assigned to, in
// ascending order of start. For sessions it is the record's own window
// [t, t+gap), before any merge. Windows at the ends of the time range are
// clipped to [stream.MinTime, stream.MaxTime]. An invalid assigner returns
// nil.
func (a Assigner) Windows(t stream.Time) []Span {
	if a.validate() != nil {
		return nil
	}
	switch a.kind {
	case kindTumbling, kindSliding:
		n := a.count(t)
		out := make([]Span, n)
		for i := range n {
			out[n-1-i] = a.nth(t, i)
		}
		return out
	case kindSession:
		return []Span{{Start: t, End: addSat(t, a.gap)}}
	default:
		return []Span{{Start: stream.MinTime, End: stream.MaxTime}}
	}
}

// count returns the number of fixed windows containing t.
func (a Assigner) count(t stream.Time) int {
	r := back(t, a.slide, a.offset)
	// windows start at t-r, t-r-slide, ... while the distance back < size.
	return int((a.size-r-1)/a.slide) + 1
}

// nth returns the i-th fixed window containing t, counting back from the
// latest start. i must be < a.count(t).
func (a Assigner) nth(t stream.Time, i int) Span {
	r := back(t, a.slide, a.offset) + stream.Time(i)*a.slide // distance from start to t, < size
	var s Span
	if t < stream.MinTime+r {
		s.Start = stream.MinTime
	} else {
		s.Start = t - r
	}
	s.End = addSat(t, a.size-r)
	return s
}
