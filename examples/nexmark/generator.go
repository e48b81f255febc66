package main

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/brook-streams/brook/stream"
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
// 200, auction 500, bid 100 bytes). Generating costs no allocation but a
// person's or an auction's struct: every string is cut from text made by
// NewGenerator (emails and credit card numbers from tables of 4096), and
// no event builds one.
//
// Every event is computed from the seed and its number alone, so
// [Generator.Event] can be called for any n, in any order, from any number
// of goroutines. A Generator is immutable and safe for concurrent use;
// [Generator.Sequence] is the faster reader for one goroutine.
type Generator struct {
	cfg   GeneratorConfig
	mult  int64  // permutes ids within an out-of-order group
	seed  uint64 // mix64(cfg.Seed), the base of every event's rng
	recip uint64 // (2^64-1) / Rate, for timeOf without a division
	// strs holds every string events carry: the pool random text is cut
	// from, then the names, email addresses, credit card numbers and
	// channels of the tables below, which are substrings of it. So the
	// garbage collector finds one object behind them all, not 30,000.
	strs   string
	names  []string
	emails []string
	cards  []string
	hot    [4]channel
	chans  []channel
}

type channel struct{ name, url string }

// ref is a string in Generator.strs, while NewGenerator builds it.
type ref struct{ off, n uint32 }

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

	// Persons take their email address and credit card number from tables
	// of this many made by NewGenerator, so a person costs no string
	// building. No query reads either field.
	numEmails = 1 << 12
	numCards  = 1 << 12
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
	g := &Generator{cfg: cfg, seed: mix64(cfg.Seed), recip: math.MaxUint64 / uint64(cfg.Rate)}
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
	text := make([]byte, poolBase+poolMargin, 1<<20)
	for i := range text {
		if r.intn(13) == 0 {
			text[i] = ' '
		} else {
			text[i] = byte('a' + r.intn(26))
		}
	}
	pool := string(text) // a copy, for cutting the emails
	add := func(parts ...string) ref {
		off := len(text)
		for _, p := range parts {
			text = append(text, p...)
		}
		return ref{off: uint32(off), n: uint32(len(text) - off)}
	}
	var names []ref
	for _, f := range firstNames {
		for _, l := range lastNames {
			names = append(names, add(f, " ", l))
		}
	}
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.intn(26))
		}
		return string(b)
	}
	url := func(suffix ...string) ref {
		return add(append([]string{"https://www.nexmark.com/", letters(5), "/", letters(5), "/", letters(5), "/item.htm?query=1"}, suffix...)...)
	}
	var hot [len(hotChans)][2]ref
	for i, name := range hotChans {
		hot[i] = [2]ref{add(name), url()}
	}
	chans := make([][2]ref, numChannels)
	for i := range chans {
		n := strconv.Itoa(i)
		chans[i] = [2]ref{add("channel-", n), url("&channel_id=", n)}
	}
	cut := func(maxLen int64) string {
		n := 3 + r.intn(maxLen-3)
		off := r.intn(poolBase)
		return strings.TrimSpace(pool[off : off+n])
	}
	emails := make([]ref, numEmails)
	for i := range emails {
		emails[i] = add(cut(7), "@", cut(5), ".com")
	}
	cards := make([]ref, numCards)
	for i := range cards {
		var cc [19]byte
		for j := range 4 {
			v := r.intn(10000)
			k := j * 5
			if j > 0 {
				cc[k-1] = ' '
			}
			cc[k], cc[k+1], cc[k+2], cc[k+3] = byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10)
		}
		cards[i] = add(string(cc[:]))
	}
	g.strs = string(text)
	str := func(r ref) string { return g.strs[r.off : r.off+r.n] }
	strs := func(rs []ref) []string {
		ss := make([]string, len(rs))
		for i, r := range rs {
			ss[i] = str(r)
		}
		return ss
	}
	g.names, g.emails, g.cards = strs(names), strs(emails), strs(cards)
	for i, c := range hot {
		g.hot[i] = channel{name: str(c[0]), url: str(c[1])}
	}
	g.chans = make([]channel, len(chans))
	for i, c := range chans {
		g.chans[i] = channel{name: str(c[0]), url: str(c[1])}
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

// timeOf returns the date of event id, in Unix milliseconds:
// BaseTime + floor(id*1000/Rate).
func (g *Generator) timeOf(id int64) int64 {
	hi, lo := bits.Mul64(uint64(id), 1000)
	if hi != 0 {
		q, _ := bits.Div64(hi, lo, uint64(g.cfg.Rate))
		return g.cfg.BaseTime + int64(q)
	}
	// lo/Rate by multiplying with recip = floor((2^64-1)/Rate): the
	// estimate is at most two below the quotient (for realistic ids, at
	// most one), which the loop corrects.
	rate := uint64(g.cfg.Rate)
	q, _ := bits.Mul64(lo, g.recip)
	for lo-q*rate >= rate {
		q++
	}
	return g.cfg.BaseTime + int64(q)
}

// Event returns the n-th event (from 0) of the stream.
func (g *Generator) Event(n int64) Event {
	var e Event
	g.fill(&e, n, nil)
	return e
}

// fill sets every field of *e (which may hold another event) to the n-th
// event, its person or auction taken from s (nil: allocated on its own),
// and returns the event's time.
func (g *Generator) fill(e *Event, n int64, s *slabs) int64 {
	id := g.eventID(n)
	ts := g.timeOf(id)
	r := rng{s: g.seed ^ uint64(id)*0x9e3779b97f4a7c15}
	switch rem := id % totalProportion; {
	case rem >= personProportion+auctionProportion:
		e.Kind = KindBid
		e.Person, e.Auction = nil, nil
		g.bid(&e.Bid, id, ts, &r)
	case rem < personProportion:
		e.Kind = KindPerson
		e.Bid, e.Auction = Bid{}, nil
		e.Person = s.person()
		g.person(e.Person, id, ts, &r)
	default:
		e.Kind = KindAuction
		e.Bid, e.Person = Bid{}, nil
		e.Auction = s.auction()
		g.auction(e.Auction, id, ts, &r)
	}
	return ts
}

// Sequence returns a reader of the generator's events for one goroutine:
// seq.Event(n) equals g.Event(n), but persons and auctions are carved from
// blocks of slabLen, so reading events costs no allocation per event. A
// person or auction keeps its whole block alive.
func (g *Generator) Sequence() EventTable { return &sequence{g: g} }

type sequence struct {
	g *Generator
	s slabs
}

func (q *sequence) Event(n int64) Event {
	var e Event
	q.g.fill(&e, n, &q.s)
	return e
}

// records sets rs[j] to the event first+j as a record at its time, every
// field of it (the elements hold earlier events: see stream.GenerateBatch).
func (q *sequence) records(first int64, rs []stream.Record[Event]) {
	for j := range rs {
		r := &rs[j]
		r.Time = eventTime(q.g.fill(&r.Value, first+int64(j), &q.s))
	}
}

// slabLen is the number of persons or auctions allocated at once by a
// [Generator.Sequence].
const slabLen = 64

// slabs hands out persons and auctions from blocks; a nil *slabs
// allocates each on its own.
type slabs struct {
	persons  []Person
	auctions []Auction
}

func (s *slabs) person() *Person {
	if s == nil {
		return new(Person)
	}
	if len(s.persons) == 0 {
		s.persons = make([]Person, slabLen)
	}
	p := &s.persons[0]
	s.persons = s.persons[1:]
	return p
}

func (s *slabs) auction() *Auction {
	if s == nil {
		return new(Auction)
	}
	if len(s.auctions) == 0 {
		s.auctions = make([]Auction, slabLen)
	}
	a := &s.auctions[0]
	s.auctions = s.auctions[1:]
	return a
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

func (g *Generator) person(p *Person, id, ts int64, r *rng) {
	p.ID, p.DateTime = lastPerson(id)+firstPersonID, ts
	p.Name = g.names[r.intn(int64(len(g.names)))]
	p.EmailAddress = g.emails[r.intn(numEmails)]
	p.CreditCard = g.cards[r.intn(numCards)]
	p.City = usCities[r.intn(int64(len(usCities)))]
	p.State = usStates[r.intn(int64(len(usStates)))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = g.extra(r, size, avgPersonBytes)
}

func (g *Generator) auction(a *Auction, id, ts int64, r *rng) {
	a.ID, a.DateTime = lastAuction(id)+firstAuctionID, ts
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
}

func (g *Generator) bid(b *Bid, id, ts int64, r *rng) {
	// One draw makes the hot-or-recent choices (its low 6 bits), cuts the
	// extra field (the next 26) and sets the price (the top 28); only the
	// recent picks draw again.
	x := r.next()
	c := x & 63 // the choices, in mixed radix
	hotAuction := c%hotAuctionRatio > 0
	c /= hotAuctionRatio
	hotBidder := c%hotBiddersRatio > 0
	c /= hotBiddersRatio
	hotChannel := c%hotChannelsRatio > 0
	c /= hotChannelsRatio
	if hotAuction {
		b.Auction = lastAuction(id) / hotBatch * hotBatch
	} else {
		b.Auction = recentAuction(id, r)
	}
	b.Auction += firstAuctionID
	if hotBidder {
		// The second person of the batch, so hot bidders are not hot sellers.
		b.Bidder = lastPerson(id)/hotBatch*hotBatch + 1
	} else {
		b.Bidder = recentPerson(id, r)
	}
	b.Bidder += firstPersonID
	b.Price = priceOf(x)
	var ch *channel
	if hotChannel {
		ch = &g.hot[c%uint64(len(g.hot))]
	} else {
		ch = &g.chans[r.intn(numChannels)]
	}
	b.Channel, b.URL = ch.name, ch.url
	b.DateTime = ts
	n := int64((x >> 6 & 0x3ff) * (2*bidExtraDelta + 1) >> 10)
	off := int64(x >> 16 % poolBase)
	b.Extra = g.strs[off : off+bidExtraWant-bidExtraDelta+n]
}

// The hot-or-recent choices of a bid are the 64 values of the low 6 bits of
// its first draw, so the ratios must divide 64 (this fails to compile
// otherwise).
const (
	bidChoices = hotAuctionRatio * hotBiddersRatio * hotChannelsRatio * len(hotChans)
	_          = uint(-(64 % bidChoices))
)

// A bid's extra field, as extra(r, 32, avgBidBytes) computes it, with
// constants.
const (
	bidExtraWant  = avgBidBytes - 32
	bidExtraDelta = (2*bidExtraWant + 5) / 10
)

// price returns a price in cents, log-uniform between $1 and $1M (100 *
// 10^(6u) cents for u uniform in [0, 1)), rounded to the cent: the table
// of 100 * 10^(6k/4096) for the first 12 bits k of u, interpolated
// linearly with the next 16 bits, in fixed point with 20 fractional bits.
// Between two entries (0.34 % apart) the line is within 1.5e-6 of the
// curve, and it costs a few integer operations instead of math.Exp, which
// was a fifth of q0's time.
func price(r *rng) int64 { return priceOf(r.next()) }

// priceOf is the price of the random draw u; it reads the top 28 bits.
func priceOf(u uint64) int64 {
	k := u >> (64 - priceBits)
	f := (u >> (64 - priceBits - 16)) & 0xffff
	lo, hi := priceTable[k], priceTable[k+1]
	return (lo + (hi-lo)*int64(f)>>16 + 1<<19) >> 20
}

const priceBits = 12

// priceTable[k] is 100 * 10^(6k/4096) cents, times 2^20.
var priceTable = func() (t [1<<priceBits + 1]int64) {
	for k := range t {
		t[k] = int64(math.Round(math.Pow(10, 2+6*float64(k)/(1<<priceBits)) * (1 << 20)))
	}
	return t
}()

// text returns a random string of 3 to maxLen-1 letters and spaces, trimmed.
func (g *Generator) text(r *rng, maxLen int64) string {
	n, off := r.cut(maxLen - 3)
	return strings.TrimSpace(g.strs[off : off+3+n])
}

// extra returns the padding that brings an entity of size bytes to avg
// bytes on average (give or take 20%).
func (g *Generator) extra(r *rng, size, avg int) string {
	if size > avg {
		return ""
	}
	want := int64(avg - size)
	delta := (2*want + 5) / 10
	n, off := r.cut(2*delta + 1)
	return g.strs[off : off+want-delta+n]
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

// cut returns a length in [0, n) and an offset in [0, poolBase) from one
// draw: the length from its high bits, the offset from its low 16.
func (r *rng) cut(n int64) (length, off int64) {
	x := r.next()
	hi, _ := bits.Mul64(x, uint64(n))
	return int64(hi), int64(x % poolBase)
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
