package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/brook-streams/brook/internal/jsonenc"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

func TestDefaultBaseTime(t *testing.T) {
	t.Parallel()
	assert.Equal(t, time.Date(2015, 7, 15, 0, 0, 0, 0, time.UTC).UnixMilli(), int64(DefaultBaseTime))
}

func TestGeneratorDeterministic(t *testing.T) {
	t.Parallel()
	a := generate(t, DefaultGeneratorConfig(), 3000)
	b := generate(t, DefaultGeneratorConfig(), 3000)
	assert.Equal(t, a, b, "same seed, same events")

	other := DefaultGeneratorConfig()
	other.Seed = 2
	c := generate(t, other, 3000)
	same := 0
	for i := range a {
		if a[i].Kind == KindBid && a[i].Bid == c[i].Bid {
			same++
		}
	}
	assert.Less(t, same, 10, "another seed gives other bids")

	// Random access: event n is the same whichever order it is asked for.
	g, err := NewGenerator(DefaultGeneratorConfig())
	require.NoError(t, err)
	for _, n := range []int64{2999, 17, 0, 1234, 4} {
		assert.Equal(t, a[n], g.Event(n), "event %d", n)
	}
}

func TestGeneratorMixAndIDs(t *testing.T) {
	t.Parallel()
	const n = 50_000
	events := generate(t, DefaultGeneratorConfig(), n)
	var persons, auctions, bids int
	nextPerson, nextAuction := int64(firstPersonID), int64(firstAuctionID)
	hotAuction, hotBidder := 0, 0
	for i, e := range events {
		switch e.Kind {
		case KindPerson:
			persons++
			require.Equal(t, nextPerson, e.Person.ID, "person ids are consecutive (event %d)", i)
			nextPerson++
			assert.Contains(t, usStates, e.Person.State)
			assert.Contains(t, usCities, e.Person.City)
			assert.Regexp(t, `^\d{4} \d{4} \d{4} \d{4}$`, e.Person.CreditCard)
			assert.Regexp(t, `^[a-z ]*@[a-z ]*\.com$`, e.Person.EmailAddress)
		case KindAuction:
			auctions++
			a := e.Auction
			require.Equal(t, nextAuction, a.ID, "auction ids are consecutive (event %d)", i)
			nextAuction++
			assert.GreaterOrEqual(t, a.Category, int64(firstCategoryID))
			assert.Less(t, a.Category, int64(firstCategoryID+numCategories))
			assert.Greater(t, a.Expires, a.DateTime)
			assert.GreaterOrEqual(t, a.Reserve, a.InitialBid)
			assert.Less(t, a.Seller, nextPerson+personIDLead, "sellers are known or a few ahead")
		case KindBid:
			bids++
			b := e.Bid
			assert.Less(t, b.Auction, nextAuction+auctionIDLead)
			assert.GreaterOrEqual(t, b.Auction, nextAuction-numInFlightAuctions-1)
			assert.Less(t, b.Bidder, nextPerson+personIDLead)
			assert.GreaterOrEqual(t, b.Price, int64(100))
			assert.LessOrEqual(t, b.Price, int64(100_000_000))
			assert.NotEmpty(t, b.Channel)
			assert.True(t, strings.HasPrefix(b.URL, "https://www.nexmark.com/"))
			if (b.Auction-firstAuctionID)%hotBatch == 0 {
				hotAuction++
			}
			if (b.Bidder-firstPersonID)%hotBatch == 1 {
				hotBidder++
			}
		}
	}
	// The mix is exact: 1 person, 3 auctions and 46 bids in every 50 events.
	assert.Equal(t, n/50, persons)
	assert.Equal(t, 3*n/50, auctions)
	assert.Equal(t, 46*n/50, bids)
	// Hot auctions take half the bids, hot bidders three quarters (plus the
	// few random picks that land on them).
	assert.InDelta(t, 0.5, float64(hotAuction)/float64(bids), 0.03)
	assert.InDelta(t, 0.75, float64(hotBidder)/float64(bids), 0.03)
}

func TestGeneratorTimes(t *testing.T) {
	t.Parallel()
	for _, rate := range []int64{1, 3, 1000, DefaultRate} {
		cfg := DefaultGeneratorConfig()
		cfg.Rate = rate
		g, err := NewGenerator(cfg)
		require.NoError(t, err)
		prev := int64(0)
		for n := range int64(5000) {
			e := g.Event(n)
			want := DefaultBaseTime + n*1000/rate
			require.Equal(t, want, e.DateTime(), "rate %d event %d", rate, n)
			require.GreaterOrEqual(t, e.DateTime(), prev)
			prev = e.DateTime()
		}
	}
}

func TestGeneratorOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, group := range []int64{3, 50, 953, 1000} {
		cfg := GeneratorConfig{Seed: 5, Rate: 1000, BaseTime: DefaultBaseTime, OutOfOrderGroup: group}
		g, err := NewGenerator(cfg)
		require.NoError(t, err)
		n := 3 * group
		seen := map[int64]bool{}
		backwards := 0
		for i := range n {
			id := g.eventID(i)
			require.False(t, seen[id], "group %d: id %d twice", group, id)
			seen[id] = true
			assert.Equal(t, i/group, id/group, "ids stay in their group")
			if i > 0 {
				cur, prev := g.Event(i), g.Event(i-1)
				if cur.DateTime() < prev.DateTime() {
					backwards++
				}
			}
		}
		assert.Positive(t, backwards, "group %d: times go back", group)
	}
}

func TestGeneratorSizes(t *testing.T) {
	t.Parallel()
	events := generate(t, DefaultGeneratorConfig(), 20_000)
	var size [3]int
	var count [3]int
	for _, e := range events {
		k := e.Kind
		count[k]++
		switch k {
		case KindPerson:
			p := e.Person
			size[k] += 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra)
		case KindAuction:
			a := e.Auction
			size[k] += 48 + len(a.ItemName) + len(a.Description) + len(a.Extra)
		case KindBid:
			size[k] += 32 + len(e.Bid.Extra)
		}
	}
	// The suite's average sizes, give or take the random padding.
	assert.InDelta(t, avgPersonBytes, size[KindPerson]/count[KindPerson], 10)
	assert.InDelta(t, avgAuctionBytes, size[KindAuction]/count[KindAuction], 15)
	assert.InDelta(t, avgBidBytes, size[KindBid]/count[KindBid], 3)
}

func TestNewGeneratorInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []GeneratorConfig{
		{Rate: 0, OutOfOrderGroup: 1},
		{Rate: -5, OutOfOrderGroup: 1},
		{Rate: 2e9, OutOfOrderGroup: 1},
		{Rate: 10, OutOfOrderGroup: 0},
	} {
		_, err := NewGenerator(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	events := generate(t, DefaultGeneratorConfig(), 500)
	events = append(events,
		Event{Kind: KindBid, Bid: Bid{Auction: -1, Extra: "quote \" backslash \\ tab \t nl \n ctl \x01 é \u2028 bad \xff", DateTime: -1}},
		Event{Kind: KindPerson, Person: &Person{ID: 1, Name: "<&>", DateTime: 253402300799999}},
	)
	for i, e := range events {
		line := e.AppendJSON(nil)
		require.True(t, json.Valid(line), "event %d: %s", i, line)
		got, err := DecodeEvent(line)
		require.NoError(t, err, "event %d: %s", i, line)
		if i == 500 {
			e.Bid.Extra = strings.ReplaceAll(e.Bid.Extra, "\xff", "\ufffd") // invalid UTF-8 is replaced
		}
		assert.Equal(t, e, got, "event %d", i)
	}
}

func TestEventJSONLayout(t *testing.T) {
	t.Parallel()
	e := Event{Kind: KindBid, Bid: Bid{Auction: 1007, Bidder: 1001, Price: 1764, Channel: "Google", URL: "https://x", DateTime: DefaultBaseTime + 1234, Extra: "ab"}}
	assert.Equal(t, `{"event_type":2,"bid":{"auction":1007,"bidder":1001,"price":1764,"channel":"Google","url":"https://x","dateTime":"2015-07-15 00:00:01.234","extra":"ab"}}`, string(e.AppendJSON(nil)))
	a := Event{Kind: KindAuction, Auction: &Auction{ID: 1000, ItemName: "i", Description: "d", InitialBid: 1, Reserve: 2, DateTime: 0, Expires: 1, Seller: 1000, Category: 10}}
	assert.Equal(t, `{"event_type":1,"auction":{"id":1000,"itemName":"i","description":"d","initialBid":1,"reserve":2,"dateTime":"1970-01-01 00:00:00.000","expires":"1970-01-01 00:00:00.001","seller":1000,"category":10,"extra":""}}`, string(a.AppendJSON(nil)))
}

func TestDecodeEventErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"not json":        `{"event_type":`,
		"no type":         `{"bid":{"auction":1}}`,
		"unknown type":    `{"event_type":7}`,
		"missing entity":  `{"event_type":0,"bid":{"auction":1}}`,
		"missing id":      `{"event_type":1,"auction":{"seller":1}}`,
		"bad time":        `{"event_type":2,"bid":{"auction":1,"dateTime":"yesterday"}}`,
		"trailing object": `{"event_type":2,"bid":{"auction":1}} {}`,
		"wrong type":      `{"event_type":2,"bid":{"auction":"one"}}`,
	}
	for name, line := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(line))
			assert.ErrorIs(t, err, ErrBadEvent)
		})
	}
}

func TestAppendTime(t *testing.T) {
	t.Parallel()
	r := rng{s: 42}
	cases := []int64{0, -1, 1, DefaultBaseTime, -62135596800000, 253402300799999, 951782400000, 951868800000}
	for range 2000 {
		cases = append(cases, int64(r.next()%(500*365*86400000))-250*365*86400000)
	}
	for _, ms := range cases {
		want := `"` + time.UnixMilli(ms).UTC().Format(TimestampLayout) + `"`
		require.Equal(t, want, string(appendTime(nil, ms)), "ms %d", ms)
	}
	// Outside years 0-9999 it falls back to the time package.
	far := int64(-70000000000000)
	assert.Equal(t, `"`+time.UnixMilli(far).UTC().Format(TimestampLayout)+`"`, string(appendTime(nil, far)))
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"`, `\`, "\x00\x1f", "é日本", "\u2028\u2029", "\xff\xfe", "<html>&"} {
		b := jsonenc.AppendString(nil, s)
		var got string
		require.NoError(t, json.Unmarshal(b, &got), "%q -> %s", s, b)
		want, _ := json.Marshal(s)
		var wantS string
		require.NoError(t, json.Unmarshal(want, &wantS))
		assert.Equal(t, wantS, got, "%q", s)
	}
}

func TestAppendMilli(t *testing.T) {
	t.Parallel()
	for v, want := range map[int64]string{0: "0.000", 908: "0.908", 1816: "1.816", 90800000000: "90800000.000", -1234: "-1.234", 5: "0.005"} {
		assert.Equal(t, want, string(appendMilli(nil, v)))
	}
}

func TestRowJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		row  Row
		want string
	}{
		{BidRow{1, 2, 3, 0, "e"}, `{"auction":1,"bidder":2,"price":3,"dateTime":"1970-01-01 00:00:00.000","extra":"e"}`},
		{Q1Row{1, 2, 908 * 3, 0, "e"}, `{"auction":1,"bidder":2,"price":2.724,"dateTime":"1970-01-01 00:00:00.000","extra":"e"}`},
		{Q2Row{1, 2}, `{"auction":1,"price":2}`},
		{Q3Row{"n", "c", "OR", 4}, `{"name":"n","city":"c","state":"OR","id":4}`},
		{Q4Row{10, 500}, `{"id":10,"final":500}`},
		{Q5Row{Auction: 1, Num: 7, Start: 5, End: 6}, `{"auction":1,"num":7}`},
		{Q8Row{1, "n", 10000}, `{"id":1,"name":"n","stime":"1970-01-01 00:00:10.000"}`},
		{Q11Row{1, 2, 0, 10000}, `{"bidder":1,"bid_count":2,"starttime":"1970-01-01 00:00:00.000","endtime":"1970-01-01 00:00:10.000"}`},
		{Q13Row{1, 2, 3, 0, "1"}, `{"auction":1,"bidder":2,"price":3,"dateTime":"1970-01-01 00:00:00.000","value":"1"}`},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%T", c.row), func(t *testing.T) {
			b := c.row.AppendJSON(nil)
			assert.Equal(t, c.want, string(b))
			assert.True(t, json.Valid(b))
		})
	}
}

func TestDump(t *testing.T) {
	t.Parallel()
	g, err := NewGenerator(DefaultGeneratorConfig())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Dump(&buf, g, 200))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 200)
	for i, l := range lines {
		e, err := DecodeEvent([]byte(l))
		require.NoError(t, err)
		assert.Equal(t, g.Event(int64(i)), e)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	g, err := NewGenerator(DefaultGeneratorConfig())
	require.NoError(f, err)
	for i := range int64(5) {
		e := g.Event(i)
		f.Add(e.AppendJSON(nil))
	}
	f.Add([]byte(`{"event_type":2,"bid":{"auction":1,"extra":"\u0000\ud800"}}`))
	f.Add([]byte(`{"event_type":0,"person":{"id":1,"dateTime":"2015-07-15T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := DecodeEvent(line)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to valid JSON that decodes to the
		// same event.
		out := e.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s from %q", out, line)
		}
		again, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		if fmt.Sprintf("%+v %+v %+v %+v", again.Kind, again.Bid, again.Person, again.Auction) != fmt.Sprintf("%+v %+v %+v %+v", e.Kind, e.Bid, e.Person, e.Auction) {
			t.Fatalf("round trip changed %+v to %+v", e, again)
		}
	})
}

// TestSequenceRecordsOverwriteEverything: the batch reader the parallel-1
// source uses (stream.GenerateBatch hands it buffers holding earlier
// events) gives every event exactly as Generator.Event does, whatever the
// buffer held before: bids over persons and auctions and the other way
// round.
func TestSequenceRecordsOverwriteEverything(t *testing.T) {
	t.Parallel()
	g, err := NewGenerator(DefaultGeneratorConfig())
	require.NoError(t, err)
	seq := &sequence{g: g}
	rs := make([]stream.Record[Event], 97)
	kinds := map[Kind]bool{}
	for _, first := range []int64{0, 1, 5, 50, 3, 1000, 23, 11} { // offsets mix the kinds in every slot
		seq.records(first, rs)
		for j, r := range rs {
			want := g.Event(first + int64(j))
			require.Equal(t, want, r.Value, "event %d", first+int64(j))
			require.Equal(t, eventTime(want.DateTime()), r.Time, "time of event %d", first+int64(j))
			kinds[want.Kind] = true
		}
	}
	assert.Len(t, kinds, 3)
}
