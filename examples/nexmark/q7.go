package main

import (
	"slices"

	"github.com/brook-streams/brook/stream"
)

// Q7 finds the highest bids of each 10 s tumbling window:
//
//	SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra
//	FROM bid B
//	JOIN (SELECT MAX(price) AS maxprice, window_end as dateTime
//	      FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY window_start, window_end) B1
//	ON B.price = B1.maxprice
//	WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
//
// BETWEEN includes both ends, so a window's result is its bids at the top
// price plus the bids dated exactly at its end (the first instant of the
// next window) that match that price. Every parallel instance of the bid
// stream keeps, per window, its own top price, the bids at it, and the bids
// dated at the window's start; once its watermark reaches a window's end it
// sends a partial result. One instance merges the partial results of a
// window and emits the rows when the watermark reaches its end: the
// combiner shape the suite's description asks for, with state of a few bids
// per window instead of the window's bids.
func Q7(ev stream.Stream[Event]) stream.Stream[BidRow] {
	bidRows := stream.Map(stream.Filter(ev, isBid), func(e Event) BidRow {
		return BidRow{Auction: e.Bid.Auction, Bidder: e.Bid.Bidder, Price: e.Bid.Price, DateTime: e.Bid.DateTime, Extra: e.Bid.Extra}
	})
	size := stream.Time(q7Window)
	partials := stream.Apply(bidRows, func() stream.Operator[BidRow, q7Partial] {
		return &q7Local{size: size, wins: map[stream.Time]*q7Win{}}
	}, stream.Name("q7-partial"))
	if partials.Parallelism() > 1 {
		partials = stream.Rebalance(partials, stream.Parallelism(1), stream.Name("q7-gather"))
	}
	return stream.Apply(partials, func() stream.Operator[q7Partial, BidRow] {
		return &q7Merge{size: size, wins: map[stream.Time]*q7Merged{}}
	}, stream.Name("q7-merge"))
}

// q7Partial is one instance's share of a window: its top price and the bids
// at it, and its bids dated at the window's end that could match the top
// price of all instances.
type q7Partial struct {
	Start stream.Time
	Has   bool // the instance saw bids in the window
	Max   int64
	Tops  []BidRow
	Next  []BidRow
}

type q7Win struct {
	max     int64
	has     bool
	tops    []BidRow
	atStart []BidRow // bids dated exactly at the window's start
	handed  bool     // atStart went to the previous window's partial
}

// q7Local is Q7's per-instance stage.
type q7Local struct {
	size   stream.Time
	wins   map[stream.Time]*q7Win
	starts []stream.Time // of wins, ascending
	last   *q7Win
	lastAt stream.Time
	wm     stream.Time
	c      *stream.Context
}

var (
	_ stream.Operator[BidRow, q7Partial] = (*q7Local)(nil)
	_ stream.Opener                      = (*q7Local)(nil)
	_ stream.Operator[q7Partial, BidRow] = (*q7Merge)(nil)
)

func (l *q7Local) Open(c *stream.Context) error {
	l.c = c
	l.wm = stream.MinTime
	return nil
}

func floorTo(t, size stream.Time) stream.Time {
	r := t % size
	if r < 0 {
		r += size
	}
	return t - r
}

func (l *q7Local) ProcessRecord(r stream.Record[BidRow], _ stream.Emitter[q7Partial]) error {
	if r.Time <= l.wm {
		l.c.CountLate(1) // its window may be gone: counted and dropped, as window.DiscardLate does
		return nil
	}
	start := floorTo(r.Time, l.size)
	w := l.last
	if w == nil || l.lastAt != start {
		w = l.wins[start]
		if w == nil {
			w = &q7Win{}
			l.wins[start] = w
			i, _ := slices.BinarySearch(l.starts, start)
			l.starts = slices.Insert(l.starts, i, start)
		}
		l.last, l.lastAt = w, start
	}
	b := r.Value
	switch {
	case !w.has || b.Price > w.max:
		w.max, w.has = b.Price, true
		w.tops = append(w.tops[:0], b)
	case b.Price == w.max:
		w.tops = append(w.tops, b)
	}
	if r.Time == start {
		w.atStart = append(w.atStart, b)
	}
	return nil
}

// ProcessWatermark sends the partial result of every window whose end the
// watermark has reached: by then its bids and the bids at its end are all
// in.
func (l *q7Local) ProcessWatermark(wm stream.Time, out stream.Emitter[q7Partial]) error {
	l.wm = wm
	n := 0
	for _, s := range l.starts {
		if s > wm {
			break
		}
		w := l.wins[s]
		if !w.handed {
			// The window before has no bids here, or it would have
			// taken these already: send them on their own.
			w.handed = true
			if len(w.atStart) > 0 {
				p := q7Partial{Start: s - l.size, Next: slices.Clone(w.atStart)}
				if err := out.Emit(stream.Record[q7Partial]{Time: s, Value: p}); err != nil {
					return err
				}
			}
		}
		end := s + l.size
		if end > wm {
			break
		}
		p := q7Partial{Start: s, Has: w.has, Max: w.max, Tops: w.tops}
		if next := l.wins[end]; next != nil {
			next.handed = true
			for _, b := range next.atStart {
				if !w.has || b.Price >= w.max {
					p.Next = append(p.Next, b)
				}
			}
		}
		if err := out.Emit(stream.Record[q7Partial]{Time: end, Value: p}); err != nil {
			return err
		}
		delete(l.wins, s)
		if l.last == w {
			l.last = nil
		}
		n++
	}
	if n > 0 {
		l.starts = append(l.starts[:0], l.starts[n:]...)
	}
	return nil
}

type q7Merged struct {
	max  int64
	has  bool
	tops []BidRow
	next []BidRow
}

// q7Merge is Q7's final stage, one instance.
type q7Merge struct {
	size   stream.Time
	wins   map[stream.Time]*q7Merged
	starts []stream.Time
}

func (m *q7Merge) ProcessRecord(r stream.Record[q7Partial], _ stream.Emitter[BidRow]) error {
	p := r.Value
	w := m.wins[p.Start]
	if w == nil {
		w = &q7Merged{}
		m.wins[p.Start] = w
		i, _ := slices.BinarySearch(m.starts, p.Start)
		m.starts = slices.Insert(m.starts, i, p.Start)
	}
	if p.Has {
		switch {
		case !w.has || p.Max > w.max:
			w.max, w.has = p.Max, true
			w.tops = append(w.tops[:0], p.Tops...)
		case p.Max == w.max:
			w.tops = append(w.tops, p.Tops...)
		}
	}
	w.next = append(w.next, p.Next...)
	return nil
}

func (m *q7Merge) ProcessWatermark(wm stream.Time, out stream.Emitter[BidRow]) error {
	n := 0
	for _, s := range m.starts {
		end := s + m.size
		if end > wm {
			break
		}
		w := m.wins[s]
		if w.has {
			for _, b := range w.tops {
				if err := out.Emit(stream.Record[BidRow]{Time: end, Value: b}); err != nil {
					return err
				}
			}
			for _, b := range w.next {
				if b.Price == w.max {
					if err := out.Emit(stream.Record[BidRow]{Time: end, Value: b}); err != nil {
						return err
					}
				}
			}
		}
		delete(m.wins, s)
		n++
	}
	if n > 0 {
		m.starts = append(m.starts[:0], m.starts[n:]...)
	}
	return nil
}
