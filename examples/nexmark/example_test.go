package main

import (
	"context"
	"fmt"

	"github.com/brook-streams/brook/stream"
)

func ExampleGenerator() {
	g, err := NewGenerator(DefaultGeneratorConfig())
	if err != nil {
		panic(err)
	}
	for n := range int64(6) {
		e := g.Event(n)
		switch e.Kind {
		case KindPerson:
			fmt.Println(n, "person", e.Person.ID)
		case KindAuction:
			fmt.Println(n, "auction", e.Auction.ID, "by", e.Auction.Seller)
		case KindBid:
			fmt.Println(n, "bid on", e.Bid.Auction)
		}
	}
	// As in the suite, a seller or an auction may be a few ids ahead of the
	// last one created (1010 here).

	// Output:
	// 0 person 1000
	// 1 auction 1000 by 1000
	// 2 auction 1001 by 1010
	// 3 auction 1002 by 1010
	// 4 bid on 1000
	// 5 bid on 1000
}

// A query is a function from the event stream to a stream of rows; here
// q11 over a few bids.
func ExampleQ11() {
	const t0 = DefaultBaseTime
	events := EventSlice{
		{Kind: KindBid, Bid: Bid{Auction: 1000, Bidder: 7, DateTime: t0}},
		{Kind: KindBid, Bid: Bid{Auction: 1000, Bidder: 7, DateTime: t0 + 4000}},
		{Kind: KindBid, Bid: Bid{Auction: 1001, Bidder: 7, DateTime: t0 + 30000}},
	}
	p := stream.New(stream.WithParallelism(1))
	sink := stream.Collect[Q11Row]()
	stream.To(Q11(Events(p, events, int64(len(events)), 1, 0)), sink)
	if err := p.Run(context.Background()); err != nil {
		panic(err)
	}
	for _, r := range sink.Values() {
		fmt.Println(string(r.AppendJSON(nil)))
	}
	// Output:
	// {"bidder":7,"bid_count":2,"starttime":"2015-07-15 00:00:00.000","endtime":"2015-07-15 00:00:14.000"}
	// {"bidder":7,"bid_count":1,"starttime":"2015-07-15 00:00:30.000","endtime":"2015-07-15 00:00:40.000"}
}
