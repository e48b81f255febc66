package benchmarks

import (
	"maps"
	"time"

	"github.com/brook-streams/brook/stream"
)

// W1's input.
const w1N = 1_000_000

var w1Input = func() []int64 {
	xs := make([]int64, w1N)
	for i := range xs {
		xs[i] = int64(i)
	}
	return xs
}()

// w1Want is W1's answer.
var w1Want = func() int64 {
	var sum int64
	for _, x := range w1Input {
		if y := x * 2; y%3 != 0 {
			sum += y
		}
	}
	return sum
}()

// Event is one input record of W2 and W3: a key and its event time.
type Event struct {
	Key  int
	Time int64 // nanoseconds of event time
}

// EventTime returns e's time as a time.Time (for the libraries that want one).
func (e Event) EventTime() time.Time { return time.Unix(0, e.Time) }

const (
	eventsN    = 1_000_000
	eventsKeys = 1_000
	// lateness is the most an event arrives after a later one: the
	// out-of-orderness bound of the watermarks.
	lateness = int64(100 * time.Millisecond)
)

// makeEvents returns n events step apart in event time, each shifted back
// by up to lateness (so they arrive slightly out of order).
func makeEvents(n int, step time.Duration) []Event {
	evs := make([]Event, n)
	x := uint64(88172645463325252)
	for i := range evs {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		evs[i] = Event{Key: int(x % eventsKeys), Time: int64(i)*int64(step) + lateness - int64(x>>32)%lateness}
	}
	return evs
}

// WindowKey is one window of one key.
type WindowKey struct {
	Start int64
	Key   int
}

// Counts are a workload's answer: events per window and key.
type Counts map[WindowKey]int64

func floorTo(t, size int64) int64 {
	r := t % size
	if r < 0 {
		r += size
	}
	return t - r
}

// Correct returns the share (0..100) of the events of want that got counts
// in their right window, and whether got equals want exactly.
func (got Counts) Correct(want Counts) (float64, bool) {
	var right, all int64
	for k, n := range want {
		all += n
		right += min(n, got[k])
	}
	if all == 0 {
		return 100, len(got) == 0
	}
	return 100 * float64(right) / float64(all), maps.Equal(got, want)
}

// W2: tumbling windows of a minute over 100 minutes of events.
var (
	w2Events = makeEvents(eventsN, 6*time.Millisecond)
	w2Size   = int64(time.Minute)
)

// W3: sliding windows of 10 s every 2 s over 1,000 s of events.
var (
	w3Events = makeEvents(eventsN, time.Millisecond)
	w3Size   = int64(10 * time.Second)
	w3Slide  = int64(2 * time.Second)
)

// records returns the events as brook records.
func records(evs []Event) []stream.Record[Event] {
	rs := make([]stream.Record[Event], len(evs))
	for i, e := range evs {
		rs[i] = stream.At(e, stream.Time(e.Time))
	}
	return rs
}
