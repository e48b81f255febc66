package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// runQuery runs build over events with the given parallelism and chunk size
// and returns its rows.
func runQuery[T any](t testing.TB, build func(stream.Stream[Event]) stream.Stream[T], events []Event, parallel, chunk int) []T {
	t.Helper()
	p := stream.New(stream.WithParallelism(parallel))
	ev := Events(p, EventSlice(events), int64(len(events)), parallel, chunk)
	sink := stream.Collect[T]()
	stream.To(build(ev), sink)
	require.NoError(t, p.Run(context.Background()))
	return sink.Values()
}

// sorted returns rows in a canonical order, so row sets can be compared.
func sorted[T any](rows []T) []T {
	type keyed struct {
		key string
		row T
	}
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		ks[i] = keyed{fmt.Sprintf("%+v", r), r}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return cmp.Compare(a.key, b.key) })
	out := make([]T, len(rows))
	for i, k := range ks {
		out[i] = k.row
	}
	return out
}

func generate(t testing.TB, cfg GeneratorConfig, n int64) []Event {
	t.Helper()
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	events := make([]Event, n)
	for i := range events {
		events[i] = g.Event(int64(i))
	}
	return events
}

// checkQuery compares a pipeline with its batch computation, row by row.
func checkQuery[T any](t *testing.T, build func(stream.Stream[Event]) stream.Stream[T], batch func([]Event) []T, events []Event, parallel, chunk int) int {
	t.Helper()
	want := sorted(batch(events))
	got := sorted(runQuery(t, build, events, parallel, chunk))
	require.Equal(t, len(want), len(got), "row count")
	for i := range want {
		require.Equal(t, want[i], got[i], "row %d of %d", i, len(want))
	}
	return len(want)
}

type queryCheck struct {
	name string
	run  func(t *testing.T, events []Event, parallel, chunk int) int
}

func check[T any](name string, build func(stream.Stream[Event]) stream.Stream[T], batch func([]Event) []T) queryCheck {
	return queryCheck{name: name, run: func(t *testing.T, events []Event, parallel, chunk int) int {
		return checkQuery(t, build, batch, events, parallel, chunk)
	}}
}

var queryChecks = []queryCheck{
	check("q0", Q0, batchQ0),
	check("q1", Q1, batchQ1),
	check("q2", Q2, batchQ2),
	check("q3", Q3, batchQ3),
	check("q4", Q4, batchQ4),
	check("q5", Q5, batchQ5),
	check("q7", Q7, batchQ7),
	check("q8", Q8, batchQ8),
	check("q11", Q11, batchQ11),
	check("q13", Q13, batchQ13),
}

// TestQueriesMatchBatch runs every query over generated events — at the
// suite's rate (everything in one window), at slow rates (many windows,
// sessions, expiring auctions) and out of order — with parallelism 1 and 3,
// and compares the rows with the batch computation.
func TestQueriesMatchBatch(t *testing.T) {
	t.Parallel()
	n := int64(6000)
	if testing.Short() {
		n = 2500
	}
	configs := []struct {
		name string
		cfg  GeneratorConfig
	}{
		{"suite-rate", DefaultGeneratorConfig()},
		{"1k-per-s", GeneratorConfig{Seed: 7, Rate: 1000, BaseTime: DefaultBaseTime, OutOfOrderGroup: 1}},
		{"100-per-s", GeneratorConfig{Seed: 3, Rate: 100, BaseTime: DefaultBaseTime, OutOfOrderGroup: 1}},
		{"out-of-order", GeneratorConfig{Seed: 11, Rate: 200, BaseTime: DefaultBaseTime + 1234, OutOfOrderGroup: 300}},
	}
	rows := map[string]int{}
	for _, c := range configs {
		events := generate(t, c.cfg, n)
		for _, q := range queryChecks {
			for _, par := range []struct{ parallel, chunk int }{{1, DefaultChunk}, {3, 7}, {3, 500}} {
				t.Run(fmt.Sprintf("%s/%s/parallel-%d-chunk-%d", c.name, q.name, par.parallel, par.chunk), func(t *testing.T) {
					rows[q.name] += q.run(t, events, par.parallel, par.chunk)
				})
			}
		}
	}
	t.Logf("rows per query over all configurations: %v", rows)
	for _, q := range queryChecks {
		assert.Positive(t, rows[q.name], "%s produced no rows in any configuration", q.name)
	}
}

// Hand-made events for the edge cases of the SQL.

const t0 = DefaultBaseTime // a multiple of 10 s

func bidAt(ms, auction, bidder, price int64) Event {
	return Event{Kind: KindBid, Bid: Bid{Auction: auction, Bidder: bidder, Price: price, DateTime: ms, Extra: fmt.Sprint("x", ms)}}
}

func personAt(ms, id int64, name, state string) Event {
	return Event{Kind: KindPerson, Person: &Person{ID: id, Name: name, City: "Boise", State: state, DateTime: ms}}
}

func auctionAt(ms, id, seller, category, expires int64) Event {
	return Event{Kind: KindAuction, Auction: &Auction{ID: id, Seller: seller, Category: category, DateTime: ms, Expires: expires}}
}

func TestQueryEdgeCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		events []Event
		check  func(t *testing.T, events []Event, parallel, chunk int)
	}{
		{
			name: "q7 bid at a window's end matches that window's top price too",
			events: []Event{
				bidAt(t0+1000, 1, 1, 50),
				bidAt(t0+9999, 2, 2, 70),  // top of [t0, t0+10s)
				bidAt(t0+10000, 3, 3, 70), // at its end: matches it, and tops [t0+10s, t0+20s)
				bidAt(t0+10000, 4, 4, 10),
				bidAt(t0+15000, 5, 5, 60),
				bidAt(t0+30000, 6, 6, 80), // alone at the start of a window after an empty one
				bidAt(t0+30000, 7, 7, 80),
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := sorted(runQuery(t, Q7, events, parallel, chunk))
				want := sorted([]BidRow{
					{2, 2, 70, t0 + 9999, "x1436918409999"},
					{3, 3, 70, t0 + 10000, "x1436918410000"},
					{3, 3, 70, t0 + 10000, "x1436918410000"},
					{6, 6, 80, t0 + 30000, "x1436918430000"},
					{7, 7, 80, t0 + 30000, "x1436918430000"},
				})
				assert.Equal(t, want, got)
				checkQuery(t, Q7, batchQ7, events, parallel, chunk)
			},
		},
		{
			name: "q4 counts bids at dateTime and at expires, and early bids of a late auction",
			events: []Event{
				bidAt(t0+500, 10, 1, 999), // before auction 10 opens (it arrives later, out of order)
				auctionAt(t0+400, 11, 1, 12, t0+2000),
				bidAt(t0+400, 11, 1, 5), // at dateTime
				auctionAt(t0+300, 10, 1, 12, t0+3000),
				bidAt(t0+2000, 11, 1, 7),    // at expires
				bidAt(t0+2001, 11, 1, 1000), // too late for 11
				bidAt(t0+2500, 10, 1, 3),
				auctionAt(t0+2600, 12, 1, 13, t0+2700), // no bids: no row for category 13
				auctionAt(t0+2700, 13, 1, 14, t0+9000),
				bidAt(t0+2699, 13, 1, 9), // before 13 opens: does not count
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := sorted(runQuery(t, Q4, events, parallel, chunk))
				// category 12: auctions 10 (999) and 11 (7): (999+7)/2 = 503
				assert.Equal(t, []Q4Row{{ID: 12, Final: 503}}, got)
				checkQuery(t, Q4, batchQ4, events, parallel, chunk)
			},
		},
		{
			name: "q11 bids exactly 10 s apart share a session, 10.001 s apart do not",
			events: []Event{
				bidAt(t0, 1, 7, 1),
				bidAt(t0+10000, 1, 7, 1),
				bidAt(t0+20001, 1, 7, 1),
				bidAt(t0+20001, 1, 8, 1),
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := sorted(runQuery(t, Q11, events, parallel, chunk))
				want := sorted([]Q11Row{
					{Bidder: 7, BidCount: 2, Starttime: t0, Endtime: t0 + 20000},
					{Bidder: 7, BidCount: 1, Starttime: t0 + 20001, Endtime: t0 + 30001},
					{Bidder: 8, BidCount: 1, Starttime: t0 + 20001, Endtime: t0 + 30001},
				})
				assert.Equal(t, want, got)
				checkQuery(t, Q11, batchQ11, events, parallel, chunk)
			},
		},
		{
			name: "q5 emits every auction tied at the top",
			events: []Event{
				bidAt(t0+100, 1, 1, 1), bidAt(t0+200, 2, 1, 1), bidAt(t0+300, 1, 1, 1), bidAt(t0+400, 2, 1, 1),
				bidAt(t0+500, 3, 1, 1),
				bidAt(t0+9000, 3, 1, 1), // [t0+2s .. t0+12s) etc. see only auction 3 twice... and 3 once
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := runQuery(t, Q5, events, parallel, chunk)
				var first []Q5Row
				for _, r := range got {
					if r.Start == t0 {
						first = append(first, r)
					}
				}
				// [t0, t0+10s): 1, 2 and 3 have two bids each.
				assert.ElementsMatch(t, []Q5Row{
					{Auction: 1, Num: 2, Start: t0, End: t0 + 10000},
					{Auction: 2, Num: 2, Start: t0, End: t0 + 10000},
					{Auction: 3, Num: 2, Start: t0, End: t0 + 10000},
				}, first)
				checkQuery(t, Q5, batchQ5, events, parallel, chunk)
			},
		},
		{
			name: "q8 needs the person and an auction in the same window; a hot seller's auctions count once",
			events: []Event{
				personAt(t0+100, 1000, "Peter Smith", "OR"),
				auctionAt(t0+200, 1, 1000, 10, t0+500),
				auctionAt(t0+300, 2, 1000, 10, t0+500),
				auctionAt(t0+400, 3, 1000, 10, t0+500),
				personAt(t0+9000, 1001, "Kate White", "CA"),
				auctionAt(t0+10500, 4, 1001, 10, t0+11000), // next window
				auctionAt(t0+10600, 5, 999, 10, t0+11000),  // seller never registered
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := runQuery(t, Q8, events, parallel, chunk)
				assert.Equal(t, []Q8Row{{ID: 1000, Name: "Peter Smith", Stime: t0}}, got)
				checkQuery(t, Q8, batchQ8, events, parallel, chunk)
			},
		},
		{
			name: "q3 joins an auction that arrives before its seller",
			events: []Event{
				auctionAt(t0+100, 1, 1000, 10, t0+500),
				auctionAt(t0+150, 2, 1000, 11, t0+500), // wrong category
				personAt(t0+200, 1000, "Paul Jones", "ID"),
				personAt(t0+250, 1001, "Luke Abrams", "WA"), // wrong state
				auctionAt(t0+300, 3, 1001, 10, t0+500),
				auctionAt(t0+400, 4, 1000, 10, t0+500),
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				got := sorted(runQuery(t, Q3, events, parallel, chunk))
				assert.Equal(t, []Q3Row{{"Paul Jones", "Boise", "ID", 1}, {"Paul Jones", "Boise", "ID", 4}}, got)
				checkQuery(t, Q3, batchQ3, events, parallel, chunk)
			},
		},
		{
			name: "q2 q13 and q1 on negative and odd values",
			events: []Event{
				bidAt(t0, 246, 1, 3), bidAt(t0+1, -123, 1, 1), bidAt(t0+2, 10001, 2, 1001), bidAt(t0+3, -5, 1, 7), bidAt(t0+4, 0, 1, 1),
			},
			check: func(t *testing.T, events []Event, parallel, chunk int) {
				assert.Equal(t, 3, checkQuery(t, Q2, batchQ2, events, parallel, chunk))   // 246, -123 and 0
				assert.Equal(t, 3, checkQuery(t, Q13, batchQ13, events, parallel, chunk)) // 246, 10001 and 0: negative ids have no key
				checkQuery(t, Q1, batchQ1, events, parallel, chunk)
			},
		},
	}
	for _, c := range cases {
		for _, par := range []struct{ parallel, chunk int }{{1, DefaultChunk}, {3, 1}, {2, 2}} {
			t.Run(fmt.Sprintf("%s/parallel-%d-chunk-%d", c.name, par.parallel, par.chunk), func(t *testing.T) {
				c.check(t, c.events, par.parallel, par.chunk)
			})
		}
	}
}

// TestQ4PendingBounded: bids that overtake their auction (each input of an
// exchange is batched on its own) wait as pending; the queue that expires
// them must not keep an entry per bid once their auctions have arrived.
func TestQ4PendingBounded(t *testing.T) {
	t.Parallel()
	w := &winningBids{open: map[int64]*openAuction{}, pending: map[int64][]q4Bid{}, wm: stream.MinTime}
	maxQueue := 0
	for id := int64(0); id < 20_000; id++ {
		ts := t0 + id
		for k := range int64(5) {
			b := q4Bid{Auction: id, Price: k, DateTime: ts}
			require.NoError(t, w.ProcessRecord(stream.Record[stream.Either[q4Auction, q4Bid]]{Time: eventTime(ts), Value: stream.Either[q4Auction, q4Bid]{Right: b, IsRight: true}}, nil))
		}
		a := q4Auction{ID: id, DateTime: ts, Expires: ts + 10, Category: 10}
		require.NoError(t, w.ProcessRecord(stream.Record[stream.Either[q4Auction, q4Bid]]{Time: eventTime(ts), Value: stream.Either[q4Auction, q4Bid]{Left: a}}, nil))
		maxQueue = max(maxQueue, len(w.pendq))
	}
	assert.Zero(t, w.npending)
	assert.Empty(t, w.pending)
	assert.LessOrEqual(t, maxQueue, 1024+5+1, "pending queue grew with the stream")
	for id, o := range w.open {
		require.True(t, o.has, "auction %d got its early bids", id)
		require.Equal(t, int64(4), o.max)
	}
}
