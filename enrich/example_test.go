package enrich_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

func ExampleLookup() {
	type Play struct{ User, Track string }
	type Row struct{ Title string }
	catalog := enrich.NewMapTable(map[string]Row{
		"t1": {"Sunrise"},
		"t2": {"Nightfall"},
	})

	p := stream.New()
	plays := stream.From(p, stream.Records([]stream.Record[Play]{
		stream.At(Play{"ann", "t1"}, 10),
		stream.At(Play{"bob", "t9"}, 20), // not in the catalog
		stream.At(Play{"cat", "t2"}, 30),
	}))
	e := enrich.Lookup(plays, catalog, func(pl Play) string { return pl.Track },
		func(pl Play, r Row) string { return pl.User + " played " + r.Title })
	out := stream.Collect[string]()
	unknown := stream.Collect[stream.DeadLetter[Play]]()
	stream.To(e.Stream, out)
	stream.To(e.DeadLetters(), unknown)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out.Records() {
		fmt.Println(r.Time, r.Value)
	}
	for _, d := range unknown.Values() {
		fmt.Println("dead letter:", d.Record.Value.User, d.Err)
	}
	// Output:
	// 1970-01-01T00:00:00.00000001Z ann played Sunrise
	// 1970-01-01T00:00:00.00000003Z cat played Nightfall
	// dead letter: bob enrich: key not in table: t9
}

func ExampleIntervalJoin() {
	type Impression struct{ Ad string }
	type Click struct{ Ad string }
	at := func(sec int) stream.Time { return stream.TimeOf(time.Unix(int64(sec), 0)) }

	p := stream.New(stream.WithParallelism(1))
	impressions := stream.From(p, stream.Records([]stream.Record[Impression]{
		stream.At(Impression{"a"}, at(0)),
		stream.At(Impression{"b"}, at(5)),
	}))
	clicks := stream.From(p, stream.Records([]stream.Record[Click]{
		stream.At(Click{"a"}, at(8)),  // 8s after the impression of a: joined
		stream.At(Click{"b"}, at(30)), // 25s after b: outside the interval
	}))
	// A click counts if it comes within 10 seconds of its impression.
	j := enrich.IntervalJoin(impressions, clicks,
		func(i Impression) string { return i.Ad }, func(c Click) string { return c.Ad },
		0, 10*time.Second,
		func(i Impression, c Click) string { return "click on " + c.Ad })
	out := stream.Collect[string]()
	stream.To(j.Stream, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out.Records() {
		fmt.Println(r.Time.Std().Unix(), r.Value) // at max(impression, click)
	}
	// Output:
	// 8 click on a
}

func ExampleIntervalFullJoin() {
	type Order struct{ ID string }
	type Payment struct {
		Order string
		Cents int
	}
	at := func(sec int) stream.Time { return stream.TimeOf(time.Unix(int64(sec), 0)) }

	p := stream.New(stream.WithParallelism(1))
	orders := stream.From(p, stream.Records([]stream.Record[Order]{
		stream.At(Order{"o1"}, at(0)),
		stream.At(Order{"o2"}, at(10)), // never paid
	}))
	payments := stream.From(p, stream.Records([]stream.Record[Payment]{
		stream.At(Payment{"o1", 500}, at(30)),
		stream.At(Payment{"o3", 700}, at(40)), // no order
	}))
	// A payment belongs to an order placed up to a minute before it.
	j := enrich.IntervalFullJoin(orders, payments,
		func(o Order) string { return o.ID }, func(pm Payment) string { return pm.Order },
		0, time.Minute,
		func(o Order, pm Payment, hasOrder, hasPayment bool) string {
			switch {
			case !hasOrder:
				return fmt.Sprintf("payment of %d for unknown order %s", pm.Cents, pm.Order)
			case !hasPayment:
				return "order " + o.ID + " not paid"
			}
			return fmt.Sprintf("order %s paid %d", o.ID, pm.Cents)
		})
	out := stream.Collect[string]()
	stream.To(j.Stream, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	// Results of one watermark come out in no particular order: sort by time.
	recs := out.Records()
	slices.SortFunc(recs, func(x, y stream.Record[string]) int { return cmp.Compare(x.Time, y.Time) })
	for _, r := range recs {
		fmt.Println(r.Time.Std().Unix(), r.Value)
	}
	// Output:
	// 30 order o1 paid 500
	// 40 payment of 700 for unknown order o3
	// 70 order o2 not paid
}

func ExampleWindowJoin() {
	type Bid struct {
		Auction string
		Price   int
	}
	type Auction struct{ ID, Item string }
	at := func(sec int) stream.Time { return stream.TimeOf(time.Unix(int64(sec), 0)) }

	p := stream.New(stream.WithParallelism(1))
	auctions := stream.From(p, stream.Records([]stream.Record[Auction]{
		stream.At(Auction{"x", "lamp"}, at(1)),
		stream.At(Auction{"y", "chair"}, at(2)),
	}))
	bids := stream.From(p, stream.Records([]stream.Record[Bid]{
		stream.At(Bid{"x", 10}, at(3)),
		stream.At(Bid{"x", 12}, at(7)),
		stream.At(Bid{"y", 5}, at(65)), // next minute: no auction y there
	}))
	j := enrich.WindowJoin(auctions, bids,
		func(a Auction) string { return a.ID }, func(b Bid) string { return b.Auction },
		window.Tumbling(time.Minute),
		func(a Auction, b Bid) string { return fmt.Sprintf("%s: %d", a.Item, b.Price) })
	out := stream.Collect[string]()
	stream.To(j.Stream, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out.Records() {
		fmt.Println(r.Value)
	}
	// Output:
	// lamp: 10
	// lamp: 12
}
