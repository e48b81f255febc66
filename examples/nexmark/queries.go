package main

import (
	"slices"
	"strconv"
	"time"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// Query is one Nexmark query: a brook pipeline from the event stream to
// its result rows.
type Query struct {
	// Name is the suite's name: "q0", "q1", ...
	Name string
	// Title is the suite's one-line description.
	Title string
	// attach builds the query on ev and sends its rows to sink.
	attach func(ev stream.Stream[Event], sink *RowSink)
}

// Attach builds the query on the event stream ev and sends its rows to
// sink.
func (q Query) Attach(ev stream.Stream[Event], sink *RowSink) { q.attach(ev, sink) }

func query[T Row](name, title string, build func(stream.Stream[Event]) stream.Stream[T]) Query {
	return Query{Name: name, Title: title, attach: func(ev stream.Stream[Event], sink *RowSink) {
		stream.To(build(ev), rowSinkOf[T](sink), stream.Name(name+"-sink"))
	}}
}

// Queries are the implemented queries, in the suite's order.
var Queries = []Query{
	query("q0", "pass through", Q0),
	query("q1", "currency conversion", Q1),
	query("q2", "selection", Q2),
	query("q3", "local item suggestion", Q3),
	query("q4", "average price for a category", Q4),
	query("q5", "hot items", Q5),
	query("q7", "highest bid", Q7),
	query("q8", "monitor new users", Q8),
	query("q11", "user sessions", Q11),
	query("q13", "bounded side input join", Q13),
}

// LookupQuery returns the query named name.
func LookupQuery(name string) (Query, bool) {
	for _, q := range Queries {
		if q.Name == name {
			return q, true
		}
	}
	return Query{}, false
}

// Window sizes of the queries (the suite's shortened versions).
const (
	q5Size    = 10 * time.Second
	q5Slide   = 2 * time.Second
	q7Window  = 10 * time.Second
	q8Window  = 10 * time.Second
	q11Gap    = 10 * time.Second
	q13Rows   = 10_000
	q2Modulus = 123
)

func isBid(e Event) bool     { return e.Kind == KindBid }
func isPerson(e Event) bool  { return e.Kind == KindPerson }
func isAuction(e Event) bool { return e.Kind == KindAuction }

// Q0 is the pass-through query:
//
//	SELECT auction, bidder, price, dateTime, extra FROM bid
func Q0(ev stream.Stream[Event]) stream.Stream[BidRow] {
	return stream.Map(stream.Filter(ev, isBid), func(e Event) BidRow {
		return BidRow{Auction: e.Bid.Auction, Bidder: e.Bid.Bidder, Price: e.Bid.Price, DateTime: e.Bid.DateTime, Extra: e.Bid.Extra}
	})
}

// Q1 converts every bid's price from dollars to euros:
//
//	SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid
func Q1(ev stream.Stream[Event]) stream.Stream[Q1Row] {
	return stream.Map(stream.Filter(ev, isBid), func(e Event) Q1Row {
		return Q1Row{Auction: e.Bid.Auction, Bidder: e.Bid.Bidder, PriceMilli: 908 * e.Bid.Price, DateTime: e.Bid.DateTime, Extra: e.Bid.Extra}
	})
}

// Q2 selects the bids of every 123rd auction:
//
//	SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
func Q2(ev stream.Stream[Event]) stream.Stream[Q2Row] {
	sel := stream.Filter(ev, func(e Event) bool { return e.Kind == KindBid && e.Bid.Auction%q2Modulus == 0 })
	return stream.Map(sel, func(e Event) Q2Row { return Q2Row{Auction: e.Bid.Auction, Price: e.Bid.Price} })
}

// Q3 finds who sells in category 10 in Oregon, Idaho or California:
//
//	SELECT P.name, P.city, P.state, A.id
//	FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//	WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
//
// It is an unwindowed join: both sides are filtered first, then brought
// together by seller id ([stream.Connect]), and each instance keeps the
// filtered persons and auctions of its ids for the whole run, so a pair is
// emitted when its second half arrives, whichever it is.
func Q3(ev stream.Stream[Event]) stream.Stream[Q3Row] {
	auctions := stream.Map(stream.Filter(ev, func(e Event) bool {
		return e.Kind == KindAuction && e.Auction.Category == 10
	}), func(e Event) *Auction { return e.Auction })
	persons := stream.Map(stream.Filter(ev, func(e Event) bool {
		if e.Kind != KindPerson {
			return false
		}
		s := e.Person.State
		return s == "OR" || s == "ID" || s == "CA"
	}), func(e Event) *Person { return e.Person })
	ks := stream.Connect(auctions, persons, func(a *Auction) int64 { return a.Seller }, func(p *Person) int64 { return p.ID })
	return stream.Apply(ks.Stream, func() stream.Operator[stream.Either[*Auction, *Person], Q3Row] {
		return &q3Join{persons: map[int64][]*Person{}, auctions: map[int64][]int64{}}
	}, stream.Name("q3-join"))
}

// q3Join is the incremental inner join of Q3.
type q3Join struct {
	persons  map[int64][]*Person // by id
	auctions map[int64][]int64   // auction ids by seller
}

var _ stream.Operator[stream.Either[*Auction, *Person], Q3Row] = (*q3Join)(nil)

func (j *q3Join) ProcessRecord(r stream.Record[stream.Either[*Auction, *Person]], out stream.Emitter[Q3Row]) error {
	if p := r.Value.Right; r.Value.IsRight {
		j.persons[p.ID] = append(j.persons[p.ID], p)
		for _, id := range j.auctions[p.ID] {
			if err := out.Emit(stream.Record[Q3Row]{Time: r.Time, Value: Q3Row{Name: p.Name, City: p.City, State: p.State, ID: id}}); err != nil {
				return err
			}
		}
		return nil
	}
	a := r.Value.Left
	j.auctions[a.Seller] = append(j.auctions[a.Seller], a.ID)
	for _, p := range j.persons[a.Seller] {
		if err := out.Emit(stream.Record[Q3Row]{Time: r.Time, Value: Q3Row{Name: p.Name, City: p.City, State: p.State, ID: a.ID}}); err != nil {
			return err
		}
	}
	return nil
}

func (j *q3Join) ProcessWatermark(stream.Time, stream.Emitter[Q3Row]) error { return nil }

// Q5 finds the hot items: the auctions with the most bids in each sliding
// window of 10 s, every 2 s:
//
//	SELECT AuctionBids.auction, AuctionBids.num
//	FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//	      GROUP BY auction, window_start, window_end) AS AuctionBids
//	JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//	      FROM (…the same counts…) AS CountBids
//	      GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
//	ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
//	   AND AuctionBids.num >= MaxBids.maxn
//
// Stage one counts bids per auction per sliding window (keyed by auction);
// its results travel at the window's last instant, End-1. Stage two keys
// them by window end and gathers each window's counts in the 2 s tumbling
// window holding End-1 — exactly the counts of that sliding window — keeping
// the largest count and the auctions that have it (ties are all emitted).
func Q5(ev stream.Stream[Event]) stream.Stream[Q5Row] {
	auctions := stream.Map(stream.Filter(ev, isBid), func(e Event) int64 { return e.Bid.Auction })
	counts := window.Aggregate(stream.KeyBy(auctions, identity), window.Sliding(q5Size, q5Slide), window.Count[int64](), stream.Name("q5-counts"))
	byWindow := stream.KeyBy(counts.Results(), func(r window.Result[int64, int64]) stream.Time { return r.End })
	hot := window.Aggregate(byWindow, window.Tumbling(q5Slide), hottest{}, stream.Name("q5-max"))
	return stream.FlatMap(hot.Results(), func(r window.Result[stream.Time, hotAcc], emit func(Q5Row) error) error {
		end := millis(r.Key)
		for _, a := range r.Value.Auctions {
			if err := emit(Q5Row{Auction: a, Num: r.Value.Max, Start: end - q5Size.Milliseconds(), End: end}); err != nil {
				return err
			}
		}
		return nil
	})
}

func identity(v int64) int64 { return v }

// hotAcc holds the largest count seen and the auctions that have it.
type hotAcc struct {
	Max      int64
	Auctions []int64
}

// hottest is the aggregator of Q5's second stage.
type hottest struct{}

var _ window.Aggregator[window.Result[int64, int64], hotAcc, hotAcc] = hottest{}

func (hottest) New() hotAcc { return hotAcc{} }

func (hottest) Add(acc hotAcc, r window.Result[int64, int64]) hotAcc {
	switch {
	case r.Value > acc.Max:
		acc.Max = r.Value
		acc.Auctions = append(acc.Auctions[:0], r.Key)
	case r.Value == acc.Max:
		acc.Auctions = append(acc.Auctions, r.Key)
	}
	return acc
}

func (h hottest) Merge(a, b hotAcc) hotAcc {
	switch {
	case b.Max > a.Max:
		return b
	case b.Max == a.Max:
		a.Auctions = append(a.Auctions, b.Auctions...)
	}
	return a
}

func (hottest) Result(acc hotAcc) hotAcc {
	return hotAcc{Max: acc.Max, Auctions: slices.Clone(acc.Auctions)}
}

// Q8 monitors new users: the persons who registered and opened an auction
// in the same 10 s tumbling window:
//
//	SELECT P.id, P.name, P.starttime
//	FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY id, name, window_start, window_end) P
//	JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY seller, window_start, window_end) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
//
// A window join with both sides made distinct first: persons and sellers
// are connected by id, and one tumbling window per id holds the person's
// distinct names and whether an auction was seen — a few bytes, however
// many auctions a hot seller opens.
func Q8(ev stream.Stream[Event]) stream.Stream[Q8Row] {
	persons := stream.Map(stream.Filter(ev, isPerson), func(e Event) personName {
		return personName{ID: e.Person.ID, Name: e.Person.Name}
	})
	sellers := stream.Map(stream.Filter(ev, isAuction), func(e Event) int64 { return e.Auction.Seller })
	ks := stream.Connect(persons, sellers, func(p personName) int64 { return p.ID }, identity)
	w := window.Aggregate(ks, window.Tumbling(q8Window), newUsers{}, stream.Name("q8-join"))
	return stream.FlatMap(w.Results(), func(r window.Result[int64, []string], emit func(Q8Row) error) error {
		for _, name := range r.Value {
			if err := emit(Q8Row{ID: r.Key, Name: name, Stime: millis(r.Start)}); err != nil {
				return err
			}
		}
		return nil
	})
}

type personName struct {
	ID   int64
	Name string
}

// newUsersAcc is one window of one id in Q8: the distinct names of the
// persons with the id, and whether they sold anything.
type newUsersAcc struct {
	Names []string
	Sold  bool
}

// newUsers is Q8's aggregator.
type newUsers struct{}

var _ window.Aggregator[stream.Either[personName, int64], newUsersAcc, []string] = newUsers{}

func (newUsers) New() newUsersAcc { return newUsersAcc{} }

func (newUsers) Add(acc newUsersAcc, e stream.Either[personName, int64]) newUsersAcc {
	if e.IsRight {
		acc.Sold = true
	} else if !slices.Contains(acc.Names, e.Left.Name) {
		acc.Names = append(acc.Names, e.Left.Name)
	}
	return acc
}

func (newUsers) Merge(a, b newUsersAcc) newUsersAcc {
	a.Sold = a.Sold || b.Sold
	for _, n := range b.Names {
		if !slices.Contains(a.Names, n) {
			a.Names = append(a.Names, n)
		}
	}
	return a
}

func (newUsers) Result(acc newUsersAcc) []string {
	if !acc.Sold {
		return nil
	}
	return slices.Clone(acc.Names)
}

// Q11 counts the bids of each bidder per session, sessions ending after 10 s
// without a bid:
//
//	SELECT B.bidder, count(*) as bid_count,
//	       SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
//	       SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime
//	FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
func Q11(ev stream.Stream[Event]) stream.Stream[Q11Row] {
	bidders := stream.Map(stream.Filter(ev, isBid), func(e Event) int64 { return e.Bid.Bidder })
	w := window.Aggregate(stream.KeyBy(bidders, identity), window.Session(q11Gap), window.Count[int64](), stream.Name("q11-sessions"))
	return stream.Map(w.Results(), func(r window.Result[int64, int64]) Q11Row {
		return Q11Row{Bidder: r.Key, BidCount: r.Value, Starttime: millis(r.Start), Endtime: millis(r.End)}
	})
}

// SideTable returns q13's bounded side input: key k in [0, 10000) maps to
// the decimal string of k, as the suite's side-input generator writes it.
func SideTable() map[int64]string {
	m := make(map[int64]string, q13Rows)
	for k := range int64(q13Rows) {
		m[k] = strconv.FormatInt(k, 10)
	}
	return m
}

// Q13 joins every bid with a bounded side table:
//
//	SELECT B.auction, B.bidder, B.price, B.dateTime, S.value
//	FROM (SELECT *, PROCTIME() as p_time FROM bid) B
//	JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
//	ON mod(B.auction, 10000) = S.key
//
// A lookup join ([enrich.Lookup]) of the bid events against an in-memory
// table (the events go to the lookup as they are: a Map to the bid first
// would be one more call and copy per bid); a bid whose key is missing (a
// negative auction id) is dropped, as by the inner join.
func Q13(ev stream.Stream[Event]) stream.Stream[Q13Row] {
	table := enrich.NewMapTable(SideTable())
	e := enrich.Lookup(stream.Filter(ev, isBid), table, func(e Event) int64 { return e.Bid.Auction % q13Rows },
		func(e Event, v string) Q13Row {
			b := &e.Bid
			return Q13Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Value: v}
		}, enrich.DropMissing(), stream.Name("q13-lookup"))
	return e.Stream
}
