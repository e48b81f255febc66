package window

import (
	"fmt"
	"math"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Option configures [Aggregate] and [Process]: [stream.Name] and this
// package's options (see [stream.OperatorConfig] for how option types
// relate).
type Option func(*stream.OperatorConfig)

type config struct {
	lateness stream.Time
	earlyN   int
	earlyD   time.Duration
	countN   int
	// onClose: each window fires once, when it closes (FireOnClose).
	onClose bool
	// discardLate: late records with no consumer of the late output are
	// counted and dropped instead of failing the run.
	discardLate bool
	err         error
}

func optionFunc(set func(*config)) Option { return stream.OptionFor[Option](set) }

// AllowedLateness keeps event-time windows open for d after they fired: a
// window closes when the watermark reaches End-1+d. A record for a window
// that fired but is not closed yet is added, and the window fires again at
// once with the updated result, marked [Late]. The default is 0: a window
// closes as it fires. Processing-time and global windows take no lateness.
func AllowedLateness(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.err = fmt.Errorf("%w: negative allowed lateness %v", ErrInvalid, d)
			return
		}
		c.lateness = stream.Time(d)
	})
}

// DiscardLate drops the late records of an operator whose late output
// ([Windowed.Late]) nobody consumes, after counting them in the metrics
// hook's Late count. Without it such a late record fails the run with
// [stream.ErrNotConnected], as an unconsumed dead letter does: a record is
// never dropped unless the pipeline says so. A consumed late output gets
// the late records either way.
func DiscardLate() Option {
	return optionFunc(func(c *config) { c.discardLate = true })
}

// EarlyEvery fires a window early, marked [Early], every n records it
// receives (per key) before its on-time firing. Results accumulate: each
// covers all the window's records so far.
func EarlyEvery(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > math.MaxInt32 {
			c.err = fmt.Errorf("%w: EarlyEvery(%d): n must be at least 1 and fit 32 bits", ErrInvalid, n)
			return
		}
		c.earlyN = n
	})
}

// EarlyInterval fires, marked [Early], the windows that received records
// since their last firing, every d of processing time (the pipeline's
// injected clock) while they wait for their on-time firing. Results
// accumulate.
func EarlyInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.err = fmt.Errorf("%w: EarlyInterval(%v): interval must be positive", ErrInvalid, d)
			return
		}
		c.earlyD = d
	})
}

// CountTrigger fires a key's window every n records it receives, marked
// [OnTime], with the aggregate of those n records, and starts the window's
// accumulator afresh: a purging count trigger. The window's own firing (at
// End-1, or at the end of input for [Global] windows) emits what the last
// count firing left, if anything, so every record is in exactly one result.
// With Global it makes count windows; with time windows it caps how many
// records one result covers. A count trigger takes no [AllowedLateness]
// (its window holds nothing a late firing could update); early firings
// cover the records since the last count firing. When session windows
// merge, their counts add up: a merged session may fire with more than n
// records.
func CountTrigger(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.err = fmt.Errorf("%w: CountTrigger(%d): the count must be at least 1", ErrInvalid, n)
			return
		}
		c.countN = n
	})
}

// FireOnClose makes each window emit exactly one result per key, when it
// closes — when the watermark reaches End-1+L for the allowed lateness L,
// the moment its state is dropped — instead of an on-time firing at End-1
// and a late re-firing for every late record. The result, marked [OnTime],
// covers every record the window accepted, the late ones within the
// lateness included, and travels at End-1+L (the closing watermark), so a
// downstream event-time operator receives it on time. Records beyond the
// lateness go to the late output as without the option. Without
// [AllowedLateness] a window closes as it fires, and the option changes
// nothing; likewise for processing-time windows. A session fires once, when
// the session it has become by merging closes; a [Global] window closes
// only at the end of input. FireOnClose excludes the triggers that fire
// before the close: with [EarlyEvery], [EarlyInterval] or [CountTrigger],
// Run fails with [ErrInvalid].
func FireOnClose() Option {
	return optionFunc(func(c *config) { c.onClose = true })
}
