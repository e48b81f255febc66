package main

import (
	"fmt"
	"slices"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// Q4 averages the winning bids of the auctions of each category:
//
//	SELECT Q.category, AVG(Q.final)
//	FROM (SELECT MAX(B.price) AS final, A.category
//	      FROM auction A, bid B
//	      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	      GROUP BY A.id, A.category) Q
//	GROUP BY Q.category
//
// Stage one connects auctions and bids by auction id; each auction keeps the
// largest bid dated within [dateTime, expires] (both ends included) and,
// once the watermark passes expires — no bid that counts can still arrive —
// emits its winning bid with its category and forgets the auction. Bids that
// arrive before their auction are held until the auction arrives or the
// watermark passes them. Stage two keys the winning bids by category and
// averages them in a global window, which fires at the end of input: one row
// per category with at least one auction that received a bid in time. The
// average is truncated to an integer, as Flink's AVG of a BIGINT.
//
// Auction ids must be unique (as the generator makes them): an auction id
// seen twice fails the run.
func Q4(ev stream.Stream[Event]) stream.Stream[Q4Row] {
	auctions := stream.Map(stream.Filter(ev, isAuction), func(e Event) q4Auction {
		a := e.Auction
		return q4Auction{ID: a.ID, DateTime: a.DateTime, Expires: a.Expires, Category: a.Category}
	})
	bidPrices := stream.Map(stream.Filter(ev, isBid), func(e Event) q4Bid {
		return q4Bid{Auction: e.Bid.Auction, Price: e.Bid.Price, DateTime: e.Bid.DateTime}
	})
	ks := stream.Connect(auctions, bidPrices, func(a q4Auction) int64 { return a.ID }, func(b q4Bid) int64 { return b.Auction })
	winners := stream.Apply(ks.Stream, func() stream.Operator[stream.Either[q4Auction, q4Bid], q4Winner] {
		return &winningBids{open: map[int64]*openAuction{}, pending: map[int64][]q4Bid{}}
	}, stream.Name("q4-winning-bids"))
	byCategory := stream.KeyBy(winners, func(w q4Winner) int64 { return w.Category })
	price := func(w q4Winner) int64 { return w.Price }
	avg := window.Aggregate(byCategory, window.Global(), window.Both(window.Sum(price), window.Count[q4Winner]()), stream.Name("q4-average"))
	return stream.Map(avg.Results(), func(r window.Result[int64, window.Pair[int64, int64]]) Q4Row {
		return Q4Row{ID: r.Key, Final: r.Value.First / r.Value.Second}
	})
}

type q4Auction struct {
	ID, DateTime, Expires, Category int64
}

type q4Bid struct {
	Auction, Price, DateTime int64
}

// q4Winner is the winning bid of one auction.
type q4Winner struct {
	Category, Price int64
}

type openAuction struct {
	a   q4Auction
	max int64
	has bool
}

func (o *openAuction) add(b q4Bid) {
	if b.DateTime < o.a.DateTime || b.DateTime > o.a.Expires {
		return
	}
	if !o.has || b.Price > o.max {
		o.max, o.has = b.Price, true
	}
}

// winningBids is Q4's first stage.
type winningBids struct {
	open     map[int64]*openAuction
	due      timeHeap          // auction ids by expiry
	pending  map[int64][]q4Bid // bids whose auction has not arrived
	pendq    []timed           // pending bids in arrival order, to drop them
	npending int               // bids in pending
	wm       stream.Time
}

var _ stream.Operator[stream.Either[q4Auction, q4Bid], q4Winner] = (*winningBids)(nil)

type timed struct {
	t  stream.Time
	id int64
}

func (w *winningBids) ProcessRecord(r stream.Record[stream.Either[q4Auction, q4Bid]], _ stream.Emitter[q4Winner]) error {
	if !r.Value.IsRight {
		a := r.Value.Left
		if _, dup := w.open[a.ID]; dup {
			return fmt.Errorf("q4: auction id %d seen twice", a.ID)
		}
		o := &openAuction{a: a}
		w.open[a.ID] = o
		for _, b := range w.pending[a.ID] {
			o.add(b)
		}
		w.npending -= len(w.pending[a.ID])
		delete(w.pending, a.ID)
		w.due.push(timed{t: eventTime(a.Expires), id: a.ID})
		return nil
	}
	b := r.Value.Right
	if o := w.open[b.Auction]; o != nil {
		o.add(b)
		return nil
	}
	if r.Time <= w.wm {
		return nil // late: no auction that can still arrive is open at its time
	}
	w.pending[b.Auction] = append(w.pending[b.Auction], b)
	w.npending++
	w.pendq = append(w.pendq, timed{t: r.Time, id: b.Auction})
	if len(w.pendq) > 2*w.npending+1024 {
		// Most entries are of bids whose auction has arrived since (the
		// exchange batches each input separately, so bids often overtake
		// their auction): drop those.
		w.pendq = slices.DeleteFunc(w.pendq, func(x timed) bool { _, ok := w.pending[x.id]; return !ok })
	}
	return nil
}

func (w *winningBids) ProcessWatermark(wm stream.Time, out stream.Emitter[q4Winner]) error {
	w.wm = wm
	for w.due.len() > 0 && w.due.min().t <= wm {
		d := w.due.pop()
		o := w.open[d.id]
		delete(w.open, d.id)
		// A bid of this auction arriving from now on is dated after the
		// watermark, so after expires: it would not count.
		if o.has {
			if err := out.Emit(stream.Record[q4Winner]{Time: d.t, Value: q4Winner{Category: o.a.Category, Price: o.max}}); err != nil {
				return err
			}
		}
	}
	// Pending bids at or before the watermark can no longer meet an
	// auction that opened before them.
	n := 0
	for n < len(w.pendq) && w.pendq[n].t <= wm {
		id := w.pendq[n].id
		if bs, ok := w.pending[id]; ok {
			kept := bs[:0]
			for _, b := range bs {
				if eventTime(b.DateTime) > wm {
					kept = append(kept, b)
				}
			}
			w.npending -= len(bs) - len(kept)
			if len(kept) == 0 {
				delete(w.pending, id)
			} else {
				w.pending[id] = kept
			}
		}
		n++
	}
	if n > 0 {
		w.pendq = append(w.pendq[:0], w.pendq[n:]...)
	}
	return nil
}

// timeHeap is a min-heap of timed entries.
type timeHeap struct{ h []timed }

func (h *timeHeap) len() int           { return len(h.h) }
func (h *timeHeap) min() timed         { return h.h[0] }
func (h *timeHeap) less(i, j int) bool { return h.h[i].t < h.h[j].t }

func (h *timeHeap) push(x timed) {
	h.h = append(h.h, x)
	for i := len(h.h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.h[i], h.h[p] = h.h[p], h.h[i]
		i = p
	}
}

func (h *timeHeap) pop() timed {
	top := h.h[0]
	last := len(h.h) - 1
	h.h[0] = h.h[last]
	h.h = h.h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.less(l, m) {
			m = l
		}
		if r < last && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.h[i], h.h[m] = h.h[m], h.h[i]
		i = m
	}
	return top
}
