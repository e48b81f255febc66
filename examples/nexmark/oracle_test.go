package main

import (
	"sort"
	"strconv"
)

// Plain batch computations of the queries over a slice of events, written
// from the reference SQL and independent of the pipelines: no brook, no
// watermarks, every event in memory. The tests compare the pipelines'
// results with these, and the benchmarks use them as the hand-written
// baseline. Times are Unix milliseconds.

const (
	sec       = int64(1000)
	hopSize   = 10 * sec
	hopSlide  = 2 * sec
	tumble    = 10 * sec
	gapMillis = 10 * sec
)

func floorMs(t, size int64) int64 {
	q := t / size
	if t%size != 0 && t < 0 {
		q--
	}
	return q * size
}

func batchBids(events []Event) []Bid {
	var out []Bid
	for _, e := range events {
		if e.Kind == KindBid {
			out = append(out, e.Bid)
		}
	}
	return out
}

func batchQ0(events []Event) []BidRow {
	var out []BidRow
	for _, b := range batchBids(events) {
		out = append(out, BidRow{b.Auction, b.Bidder, b.Price, b.DateTime, b.Extra})
	}
	return out
}

func batchQ1(events []Event) []Q1Row {
	var out []Q1Row
	for _, b := range batchBids(events) {
		// 0.908 * price, exact in thousandths.
		out = append(out, Q1Row{b.Auction, b.Bidder, b.Price * 908, b.DateTime, b.Extra})
	}
	return out
}

func batchQ2(events []Event) []Q2Row {
	var out []Q2Row
	for _, b := range batchBids(events) {
		if b.Auction%123 == 0 {
			out = append(out, Q2Row{b.Auction, b.Price})
		}
	}
	return out
}

func batchQ3(events []Event) []Q3Row {
	var persons []*Person
	var auctions []*Auction
	for _, e := range events {
		switch e.Kind {
		case KindPerson:
			persons = append(persons, e.Person)
		case KindAuction:
			auctions = append(auctions, e.Auction)
		}
	}
	byID := map[int64][]*Person{}
	for _, p := range persons {
		byID[p.ID] = append(byID[p.ID], p)
	}
	var out []Q3Row
	for _, a := range auctions {
		for _, p := range byID[a.Seller] {
			if a.Category == 10 && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
				out = append(out, Q3Row{p.Name, p.City, p.State, a.ID})
			}
		}
	}
	return out
}

func batchQ4(events []Event) []Q4Row {
	type key struct{ id, category int64 }
	final := map[key]int64{}
	bidsOf := map[int64][]Bid{}
	for _, b := range batchBids(events) {
		bidsOf[b.Auction] = append(bidsOf[b.Auction], b)
	}
	for _, e := range events {
		if e.Kind != KindAuction {
			continue
		}
		a := e.Auction
		for _, b := range bidsOf[a.ID] {
			if b.DateTime >= a.DateTime && b.DateTime <= a.Expires {
				k := key{a.ID, a.Category}
				if m, ok := final[k]; !ok || b.Price > m {
					final[k] = b.Price
				}
			}
		}
	}
	sum, n := map[int64]int64{}, map[int64]int64{}
	for k, f := range final {
		sum[k.category] += f
		n[k.category]++
	}
	var out []Q4Row
	for c := range sum {
		out = append(out, Q4Row{ID: c, Final: sum[c] / n[c]})
	}
	return out
}

func batchQ5(events []Event) []Q5Row {
	type win struct{ start, end int64 }
	counts := map[win]map[int64]int64{}
	for _, b := range batchBids(events) {
		// every start = k*slide with start <= t < start + size
		for s := floorMs(b.DateTime, hopSlide); s > b.DateTime-hopSize; s -= hopSlide {
			w := win{s, s + hopSize}
			if counts[w] == nil {
				counts[w] = map[int64]int64{}
			}
			counts[w][b.Auction]++
		}
	}
	var out []Q5Row
	for w, c := range counts {
		maxn := int64(0)
		for _, n := range c {
			maxn = max(maxn, n)
		}
		for a, n := range c {
			if n >= maxn {
				out = append(out, Q5Row{Auction: a, Num: n, Start: w.start, End: w.end})
			}
		}
	}
	return out
}

func batchQ7(events []Event) []BidRow {
	maxPrice := map[int64]int64{} // by window end
	bs := batchBids(events)
	for _, b := range bs {
		end := floorMs(b.DateTime, tumble) + tumble
		if m, ok := maxPrice[end]; !ok || b.Price > m {
			maxPrice[end] = b.Price
		}
	}
	var out []BidRow
	for end, m := range maxPrice {
		for _, b := range bs {
			if b.Price == m && b.DateTime >= end-tumble && b.DateTime <= end {
				out = append(out, BidRow{b.Auction, b.Bidder, b.Price, b.DateTime, b.Extra})
			}
		}
	}
	return out
}

func batchQ8(events []Event) []Q8Row {
	type pkey struct {
		id    int64
		name  string
		start int64
	}
	type akey struct{ seller, start int64 }
	ps := map[pkey]bool{}
	as := map[akey]bool{}
	for _, e := range events {
		switch e.Kind {
		case KindPerson:
			ps[pkey{e.Person.ID, e.Person.Name, floorMs(e.Person.DateTime, tumble)}] = true
		case KindAuction:
			as[akey{e.Auction.Seller, floorMs(e.Auction.DateTime, tumble)}] = true
		}
	}
	var out []Q8Row
	for p := range ps {
		if as[akey{p.id, p.start}] {
			out = append(out, Q8Row{p.id, p.name, p.start})
		}
	}
	return out
}

func batchQ11(events []Event) []Q11Row {
	times := map[int64][]int64{}
	for _, b := range batchBids(events) {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	var out []Q11Row
	for bidder, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		start, last, n := ts[0], ts[0], int64(1)
		for _, t := range ts[1:] {
			if t > last+gapMillis { // a gap longer than 10 s ends the session
				out = append(out, Q11Row{bidder, n, start, last + gapMillis})
				start, n = t, 0
			}
			last = t
			n++
		}
		out = append(out, Q11Row{bidder, n, start, last + gapMillis})
	}
	return out
}

func batchQ13(events []Event) []Q13Row {
	var out []Q13Row
	for _, b := range batchBids(events) {
		if k := b.Auction % 10000; k >= 0 {
			out = append(out, Q13Row{b.Auction, b.Bidder, b.Price, b.DateTime, strconv.FormatInt(k, 10)})
		}
	}
	return out
}
