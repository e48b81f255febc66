package main

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Generator defaults, those of the nexmark suite's published runs where the
// suite has one.
const (
	// DefaultSeed is the seed of the default run.
	DefaultSeed = 1
	// DefaultRate is the event rate of the nexmark suite's Flink runs
	// (first-event.rate, 10 M events per second of event time): event n
	// happens n/rate seconds after DefaultBaseTime.
	DefaultRate = 10_000_000
	// DefaultBaseTime is the time of the first event, 2015-07-15 00:00:00
	// UTC (the base time of Beam's Nexmark), in Unix milliseconds.
	DefaultBaseTime = 1_436_918_400_000
)

// The event mix and the shape of the data (the suite's defaults).
const (
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	firstPersonID   = 1000
	firstAuctionID  = 1000
	firstCategoryID = 10
	numCategories   = 5

	numActivePeople     = 1000 // people that sell and bid at a given time
	numInFlightAuctions = 100  // auctions bids go to at a given time
	personIDLead        = 10   // ids ahead of the last person a bid may name
	auctionIDLead       = 10   // ids ahead of the last auction a bid may name

	hotSellersRatio  = 4   // 3 in 4 auctions are by the current hot seller
	hotAuctionRatio  = 2   // 1 in 2 bids go to the current hot auction
	hotBiddersRatio  = 4   // 3 in 4 bids are by the current hot bidder
	hotChannelsRatio = 2   // 1 in 2 bids come through one of the hot channels
	hotBatch         = 100 // the hot one is the first of the last 100 ids

	avgPersonBytes  = 200
	avgAuctionBytes = 500
	avgBidBytes     = 100

	numChannels = 10_000
)

// GeneratorConfig configures a [Generator]. The zero value is not valid; start
// from [DefaultGeneratorConfig].
type GeneratorConfig struct {
	// Seed selects the data: the same seed gives the same events.
	Seed uint64
	// Rate is the number of events per second of event time: event n (in
	// emission order, from 0) is dated BaseTime + n*1000/Rate ms.
	Rate int64
	// BaseTime is the date of the first event, in Unix milliseconds.
	BaseTime int64
	// OutOfOrderGroup shuffles events within consecutive groups of this
	// many (1, the default, emits them in time order), as the suite's
	// out-of-order group size: within a group, event ids and their times
	// are permuted, so times go back by up to a group's span. (Groups of
	// 2 cannot be shuffled this way and stay in order.)
	OutOfOrderGroup int64
}

// DefaultGeneratorConfig returns the configuration of the default run.
func DefaultGeneratorConfig() GeneratorConfig {
	return GeneratorConfig{Seed: DefaultSeed, Rate: DefaultRate, BaseTime: DefaultBaseTime, OutOfOrderGroup: 1}
}

// ErrInvalidConfig is wrapped by the errors of [NewGenerator].
var ErrInvalidConfig = errors.New("invalid generator configuration")

// Generator produces the Nexmark event stream after the design of the
// nexmark suite's generator: event n gets an event id, its kind follows
// from the id (1 person, 3 auctions, 46 bids in every 50), and its time
// increases with n at a fixed inter-event delay. Persons and auctions take
// the next id of their kind; auctions are sold mostly by a hot seller and
// otherwise by a recent person; bids go mostly to a hot auction and
// otherwise to one of the last 100 auctions (or a few ahead, not yet
// created), by a hot bidder or a recently active person. Strings are
// random, padded with an extra field to the suite's average sizes (person
// 200, auction 500, bid 100 bytes).
//
// Every event is computed from the seed and its number alone, so
// [Generator.Event] can be called for any n, in any order, from any number
// of goroutines. A Generator is immutable and safe for concurrent use.
type Generator struct {
	cfg   GeneratorConfig
	mult  int64  // permutes ids within an out-of-order group
	pool  string // random text strings are cut from
	names []string
	hot   [4]channel
	chans []channel
}

type channel struct{ name, url string }

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	hotChans   = [4]string{"Google", "Facebook", "Baidu", "Apple"}
)

const (
	poolBase   = 1 << 16
	poolMargin = 1 << 10 // longer than any string cut from the pool
)

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	switch {
	case cfg.Rate < 1:
		return nil, fmt.Errorf("%w: rate %d events/s must be at least 1", ErrInvalidConfig, cfg.Rate)
	case cfg.Rate > 1_000_000_000:
		return nil, fmt.Errorf("%w: rate %d events/s is above 1e9", ErrInvalidConfig, cfg.Rate)
	case cfg.OutOfOrderGroup < 1:
		return nil, fmt.Errorf("%w: out-of-order group %d must be at least 1", ErrInvalidConfig, cfg.OutOfOrderGroup)
	}
	g := &Generator{cfg: cfg}
	// A multiplier prime to the group size permutes each group (the
	// suite's 953, or the next prime that does; 1 modulo the group would
	// leave it in order, which only groups of 2 cannot avoid).
	g.mult = 1
	for _, m := range []int64{953, 967, 971, 977, 983} {
		if k := cfg.OutOfOrderGroup; k%m != 0 && m%k != 1 {
			g.mult = m
			break
		}
	}
	r := rng{s: mix64(cfg.Seed ^ 0x5eed)}
	pool := make([]byte, poolBase+poolMargin)
	for i := range pool {
		if r.intn(13) == 0 {
			pool[i] = ' '
		} else {
			pool[i] = byte('a' + r.intn(26))
		}
	}
	g.pool = string(pool)
	for _, f := range firstNames {
		for _, l := range lastNames {
			g.names = append(g.names, f+" "+l)
		}
	}
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.intn(26))
		}
		return string(b)
	}
	url := func() string {
		return "https://www.nexmark.com/" + letters(5) + "/" + letters(5) + "/" + letters(5) + "/item.htm?query=1"
	}
	for i, name := range hotChans {
		g.hot[i] = channel{name: name, url: url()}
	}
	g.chans = make([]channel, numChannels)
	for i := range g.chans {
		n := strconv.Itoa(i)
		g.chans[i] = channel{name: "channel-" + n, url: url() + "&channel_id=" + n}
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() GeneratorConfig { return g.cfg }

// eventID returns the id of the n-th event emitted: n itself, or n
// permuted within its out-of-order group.
func (g *Generator) eventID(n int64) int64 {
	k := g.cfg.OutOfOrderGroup
	if k == 1 {
		return n
	}
	base := n / k * k
	// (n*mult) mod k without overflow for the n of any realistic run.
	hi, lo := bits.Mul64(uint64(n), uint64(g.mult))
	_, rem := bits.Div64(hi%uint64(k), lo, uint64(k))
	return base + int64(rem)
}

// timeOf returns the date of event id, in Unix milliseconds.
func (g *Generator) timeOf(id int64) int64 {
	hi, lo := bits.Mul64(uint64(id), 1000)
	q, _ := bits.Div64(hi, lo, uint64(g.cfg.Rate))
	return g.cfg.BaseTime + int64(q)
}

// Event returns the n-th event (from 0) of the stream.
func (g *Generator) Event(n int64) Event {
	id := g.eventID(n)
	ts := g.timeOf(id)
	r := rng{s: mix64(g.cfg.Seed) ^ uint64(id)*0x9e3779b97f4a7c15}
	switch rem := id % totalProportion; {
	case rem < personProportion:
		return Event{Kind: KindPerson, Person: g.person(id, ts, &r)}
	case rem < personProportion+auctionProportion:
		return Event{Kind: KindAuction, Auction: g.auction(id, ts, &r)}
	default:
		var e Event
		e.Kind = KindBid
		g.bid(&e.Bid, id, ts, &r)
		return e
	}
}

// lastPerson returns the id (from 0) of the last person created at or
// before event id.
func lastPerson(id int64) int64 {
	epoch, off := id/totalProportion, id%totalProportion
	if off >= personProportion {
		off = personProportion - 1
	}
	return epoch*personProportion + off
}

// lastAuction returns the id (from 0) of the last auction created at or
// before event id; -1 before the first.
func lastAuction(id int64) int64 {
	epoch, off := id/totalProportion, id%totalProportion
	switch {
	case off < personProportion:
		epoch--
		off = auctionProportion - 1
	case off >= personProportion+auctionProportion:
		off = auctionProportion - 1
	default:
		off -= personProportion
	}
	return epoch*auctionProportion + off
}

// recentPerson picks an active person, or one of the few ids just ahead.
func recentPerson(id int64, r *rng) int64 {
	n := lastPerson(id) + 1
	active := min(n, numActivePeople)
	return n - active + r.intn(active+personIDLead)
}

// recentAuction picks an auction likely still open, or one just ahead.
func recentAuction(id int64, r *rng) int64 {
	last := lastAuction(id)
	lo := max(last-numInFlightAuctions, 0)
	return lo + r.intn(last-lo+1+auctionIDLead)
}

func (g *Generator) person(id, ts int64, r *rng) *Person {
	p := &Person{ID: lastPerson(id) + firstPersonID, DateTime: ts}
	p.Name = g.names[r.intn(int64(len(g.names)))]
	p.EmailAddress = g.text(r, 7) + "@" + g.text(r, 5) + ".com"
	var cc [19]byte
	for i := range 4 {
		v := r.intn(10000)
		j := i * 5
		if i > 0 {
			cc[j-1] = ' '
		}
		cc[j], cc[j+1], cc[j+2], cc[j+3] = byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10)
	}
	p.CreditCard = string(cc[:])
	p.City = usCities[r.intn(int64(len(usCities)))]
	p.State = usStates[r.intn(int64(len(usStates)))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = g.extra(r, size, avgPersonBytes)
	return p
}

func (g *Generator) auction(id, ts int64, r *rng) *Auction {
	a := &Auction{ID: lastAuction(id) + firstAuctionID, DateTime: ts}
	if r.intn(hotSellersRatio) > 0 {
		a.Seller = lastPerson(id) / hotBatch * hotBatch
	} else {
		a.Seller = recentPerson(id, r)
	}
	a.Seller += firstPersonID
	a.Category = firstCategoryID + r.intn(numCategories)
	a.InitialBid = price(r)
	a.Reserve = a.InitialBid + price(r)
	// Auctions last twice, on average, the time until the auction
	// numInFlightAuctions ahead is created.
	horizon := g.timeOf(id+numInFlightAuctions*totalProportion/auctionProportion) - ts
	a.Expires = ts + 1 + r.intn(max(2*horizon, 1))
	a.ItemName = g.text(r, 20)
	a.Description = g.text(r, 100)
	a.Extra = g.extra(r, 8+len(a.ItemName)+len(a.Description)+40, avgAuctionBytes)
	return a
}

func (g *Generator) bid(b *Bid, id, ts int64, r *rng) {
	if r.intn(hotAuctionRatio) > 0 {
		b.Auction = lastAuction(id) / hotBatch * hotBatch
	} else {
		b.Auction = recentAuction(id, r)
	}
	b.Auction += firstAuctionID
	if r.intn(hotBiddersRatio) > 0 {
		// The second person of the batch, so hot bidders are not hot sellers.
		b.Bidder = lastPerson(id)/hotBatch*hotBatch + 1
	} else {
		b.Bidder = recentPerson(id, r)
	}
	b.Bidder += firstPersonID
	b.Price = price(r)
	var c *channel
	if r.intn(hotChannelsRatio) > 0 {
		c = &g.hot[r.intn(int64(len(g.hot)))]
	} else {
		c = &g.chans[r.intn(numChannels)]
	}
	b.Channel, b.URL = c.name, c.url
	b.DateTime = ts
	b.Extra = g.extra(r, 32, avgBidBytes)
}

// price returns a price in cents, log-uniform between $1 and $1M.
func price(r *rng) int64 {
	const ln1e6 = 13.815510557964274 // 6 * ln 10
	return int64(math.Round(math.Exp(r.float()*ln1e6) * 100))
}

// text returns a random string of 3 to maxLen-1 letters and spaces, trimmed.
func (g *Generator) text(r *rng, maxLen int64) string {
	n := 3 + r.intn(maxLen-3)
	off := r.intn(poolBase)
	return strings.TrimSpace(g.pool[off : off+n])
}

// extra returns the padding that brings an entity of size bytes to avg
// bytes on average (give or take 20%).
func (g *Generator) extra(r *rng, size, avg int) string {
	if size > avg {
		return ""
	}
	want := int64(avg - size)
	delta := (2*want + 5) / 10
	n := want - delta + r.intn(2*delta+1)
	off := r.intn(poolBase)
	return g.pool[off : off+n]
}

// rng is a splitmix64 generator: one per event, seeded from the seed and
// the event id.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a number in [0, n), n > 0.
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
