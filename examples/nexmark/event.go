package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/brook-streams/brook/stream/jsonl"
)

// Kind says which of the three Nexmark entities an [Event] carries.
type Kind uint8

// The event kinds, numbered as the nexmark suite's event_type column.
const (
	KindPerson  Kind = 0
	KindAuction Kind = 1
	KindBid     Kind = 2
)

// String returns "person", "auction" or "bid".
func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Person is a user of the auction site: someone who sells and bids.
// DateTime is milliseconds since the Unix epoch (UTC), as every time in
// this package.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64
	Extra        string
}

// Auction is an item put up for auction by Seller. It is open from DateTime
// to Expires (milliseconds since the Unix epoch).
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid of Bidder on Auction, Price in cents.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

// Event is one Nexmark event: a Person, an Auction or a Bid, as Kind says.
// A bid (46 events in 50) is held by value so the common case allocates
// nothing; persons and auctions are held by pointer.
type Event struct {
	Kind    Kind
	Bid     Bid      // when Kind == KindBid
	Person  *Person  // when Kind == KindPerson
	Auction *Auction // when Kind == KindAuction
}

// DateTime returns the event's time in milliseconds since the Unix epoch.
func (e *Event) DateTime() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

// AppendJSON appends the event as one JSON object in the layout of the
// nexmark suite's event table — event_type and the one entity present,
// with the suite's column names — without a newline:
//
//	{"event_type":2,"bid":{"auction":1000,"bidder":1001,"price":1764,"channel":"Google","url":"https://…","dateTime":"2015-07-15 00:00:00.000","extra":"…"}}
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"event_type":`...)
	b = append(b, '0'+byte(e.Kind))
	switch e.Kind {
	case KindPerson:
		p := e.Person
		b = append(b, `,"person":{"id":`...)
		b = appendInt(b, p.ID)
		b = appendStringField(b, "name", p.Name)
		b = appendStringField(b, "emailAddress", p.EmailAddress)
		b = appendStringField(b, "creditCard", p.CreditCard)
		b = appendStringField(b, "city", p.City)
		b = appendStringField(b, "state", p.State)
		b = appendTimeField(b, "dateTime", p.DateTime)
		b = appendStringField(b, "extra", p.Extra)
	case KindAuction:
		a := e.Auction
		b = append(b, `,"auction":{"id":`...)
		b = appendInt(b, a.ID)
		b = appendStringField(b, "itemName", a.ItemName)
		b = appendStringField(b, "description", a.Description)
		b = appendIntField(b, "initialBid", a.InitialBid)
		b = appendIntField(b, "reserve", a.Reserve)
		b = appendTimeField(b, "dateTime", a.DateTime)
		b = appendTimeField(b, "expires", a.Expires)
		b = appendIntField(b, "seller", a.Seller)
		b = appendIntField(b, "category", a.Category)
		b = appendStringField(b, "extra", a.Extra)
	default:
		x := &e.Bid
		b = append(b, `,"bid":{"auction":`...)
		b = appendInt(b, x.Auction)
		b = appendIntField(b, "bidder", x.Bidder)
		b = appendIntField(b, "price", x.Price)
		b = appendStringField(b, "channel", x.Channel)
		b = appendStringField(b, "url", x.URL)
		b = appendTimeField(b, "dateTime", x.DateTime)
		b = appendStringField(b, "extra", x.Extra)
	}
	return append(b, "}}"...)
}

// Timestamp is a time in milliseconds since the Unix epoch that reads and
// writes JSON as the SQL timestamp "2006-01-02 15:04:05.000" (UTC), the way
// Flink writes TIMESTAMP(3) columns.
type Timestamp int64

// TimestampLayout is the text form of a [Timestamp].
const TimestampLayout = "2006-01-02 15:04:05.000"

// UnmarshalJSON parses a quoted TimestampLayout string. RFC 3339 is accepted
// too.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	v, err := time.Parse(TimestampLayout, s)
	if err != nil {
		var err2 error
		if v, err2 = jsonl.ParseRFC3339(s); err2 != nil {
			return fmt.Errorf("timestamp %q: want %q", s, TimestampLayout)
		}
	}
	*t = Timestamp(v.UnixMilli())
	return nil
}

// MarshalJSON writes the quoted TimestampLayout form.
func (t Timestamp) MarshalJSON() ([]byte, error) { return appendTime(nil, int64(t)), nil }

// wireEvent is the JSON shape of an event line, for decoding.
type wireEvent struct {
	EventType *int `json:"event_type"`
	Person    *struct {
		ID           *int64    `json:"id"`
		Name         string    `json:"name"`
		EmailAddress string    `json:"emailAddress"`
		CreditCard   string    `json:"creditCard"`
		City         string    `json:"city"`
		State        string    `json:"state"`
		DateTime     Timestamp `json:"dateTime"`
		Extra        string    `json:"extra"`
	} `json:"person"`
	Auction *struct {
		ID          *int64    `json:"id"`
		ItemName    string    `json:"itemName"`
		Description string    `json:"description"`
		InitialBid  int64     `json:"initialBid"`
		Reserve     int64     `json:"reserve"`
		DateTime    Timestamp `json:"dateTime"`
		Expires     Timestamp `json:"expires"`
		Seller      int64     `json:"seller"`
		Category    int64     `json:"category"`
		Extra       string    `json:"extra"`
	} `json:"auction"`
	Bid *struct {
		Auction  *int64    `json:"auction"`
		Bidder   int64     `json:"bidder"`
		Price    int64     `json:"price"`
		Channel  string    `json:"channel"`
		URL      string    `json:"url"`
		DateTime Timestamp `json:"dateTime"`
		Extra    string    `json:"extra"`
	} `json:"bid"`
}

// ErrBadEvent is wrapped by every [DecodeEvent] error.
var ErrBadEvent = errors.New("bad event")

// DecodeEvent parses one line written by [Event.AppendJSON]. The entity
// named by event_type must be present; the others may be absent or null.
// Missing fields other than the ids are zero.
func DecodeEvent(line []byte) (Event, error) {
	var w wireEvent
	d := json.NewDecoder(bytes.NewReader(line))
	if err := d.Decode(&w); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if d.More() {
		return Event{}, fmt.Errorf("%w: data after the object", ErrBadEvent)
	}
	if w.EventType == nil {
		return Event{}, fmt.Errorf("%w: no event_type", ErrBadEvent)
	}
	switch Kind(*w.EventType) {
	case KindPerson:
		if w.Person == nil || w.Person.ID == nil {
			return Event{}, fmt.Errorf("%w: event_type 0 without a person id", ErrBadEvent)
		}
		p := w.Person
		return Event{Kind: KindPerson, Person: &Person{
			ID: *p.ID, Name: p.Name, EmailAddress: p.EmailAddress, CreditCard: p.CreditCard,
			City: p.City, State: p.State, DateTime: int64(p.DateTime), Extra: p.Extra,
		}}, nil
	case KindAuction:
		if w.Auction == nil || w.Auction.ID == nil {
			return Event{}, fmt.Errorf("%w: event_type 1 without an auction id", ErrBadEvent)
		}
		a := w.Auction
		return Event{Kind: KindAuction, Auction: &Auction{
			ID: *a.ID, ItemName: a.ItemName, Description: a.Description, InitialBid: a.InitialBid,
			Reserve: a.Reserve, DateTime: int64(a.DateTime), Expires: int64(a.Expires),
			Seller: a.Seller, Category: a.Category, Extra: a.Extra,
		}}, nil
	case KindBid:
		if w.Bid == nil || w.Bid.Auction == nil {
			return Event{}, fmt.Errorf("%w: event_type 2 without a bid auction", ErrBadEvent)
		}
		x := w.Bid
		return Event{Kind: KindBid, Bid: Bid{
			Auction: *x.Auction, Bidder: x.Bidder, Price: x.Price, Channel: x.Channel,
			URL: x.URL, DateTime: int64(x.DateTime), Extra: x.Extra,
		}}, nil
	}
	return Event{}, fmt.Errorf("%w: event_type %d (want 0, 1 or 2)", ErrBadEvent, *w.EventType)
}
