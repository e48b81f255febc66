package benchmarks

// windower is the hand-written event-time window: counts per window and
// key in a map, a bounded out-of-orderness watermark (the largest time seen
// minus lateness, minus 1), and each window emitted once the watermark
// passes its end. Tumbling windows have slide == size.
type windower struct {
	size, slide int64
	open        map[WindowKey]int64
	maxSeen     int64
	minEnd      int64 // the earliest end of an open window
	emit        func(WindowKey, int64)
}

func newWindower(size, slide int64, emit func(WindowKey, int64)) *windower {
	return &windower{size: size, slide: slide, open: map[WindowKey]int64{}, maxSeen: -1 << 63, minEnd: 1<<63 - 1, emit: emit}
}

func (w *windower) add(e Event) {
	if e.Time > w.maxSeen {
		w.maxSeen = e.Time
		if wm := e.Time - lateness - 1; wm >= w.minEnd-1 {
			w.fire(wm)
		}
	}
	for s := floorTo(e.Time, w.slide); s > e.Time-w.size; s -= w.slide {
		w.open[WindowKey{s, e.Key}]++
		w.minEnd = min(w.minEnd, s+w.size)
	}
}

// fire emits and drops every window whose end the watermark wm has passed.
func (w *windower) fire(wm int64) {
	w.minEnd = 1<<63 - 1
	for k, n := range w.open {
		if k.Start+w.size-1 <= wm {
			w.emit(k, n)
			delete(w.open, k)
		} else {
			w.minEnd = min(w.minEnd, k.Start+w.size)
		}
	}
}

// end fires every window left at the end of input.
func (w *windower) end() { w.fire(1<<63 - 1) }

// reference is the answer by brute force: every event counted in every
// window it belongs to (no event is later than the watermark allows).
func reference(evs []Event, size, slide int64) Counts {
	c := Counts{}
	for _, e := range evs {
		for s := floorTo(e.Time, slide); s > e.Time-size; s -= slide {
			c[WindowKey{s, e.Key}]++
		}
	}
	return c
}

// foldCounts is the fold step for the libraries without event-time
// windows: the windows counted by hand inside their reduce operator, kept
// until the input ends.
func foldCounts(c Counts, e Event, size, slide int64) Counts {
	for s := floorTo(e.Time, slide); s > e.Time-size; s -= slide {
		c[WindowKey{s, e.Key}]++
	}
	return c
}
