package main

import "github.com/brook-streams/brook/internal/jsonenc"

// Result rows. Each has the columns of its query's sink table in the
// nexmark suite, and AppendJSON writes them under the suite's column names
// (timestamps as "2006-01-02 15:04:05.000", UTC).

// Row is a query result row.
type Row interface {
	// AppendJSON appends the row as one JSON object, without a newline.
	AppendJSON(b []byte) []byte
}

// BidRow is a row of q0 (pass-through) and q7 (highest bid): the bid's
// auction, bidder, price, dateTime and extra columns.
type BidRow struct {
	Auction, Bidder, Price int64
	DateTime               int64 // Unix milliseconds
	Extra                  string
}

// AppendJSON writes {"auction","bidder","price","dateTime","extra"}.
func (r BidRow) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = appendInt(b, r.Auction)
	b = appendIntField(b, "bidder", r.Bidder)
	b = appendIntField(b, "price", r.Price)
	b = appendTimeField(b, "dateTime", r.DateTime)
	b = appendStringField(b, "extra", r.Extra)
	return append(b, '}')
}

// Q1Row is a row of q1 (currency conversion): price is 0.908 × the bid's
// price, a DECIMAL(23, 3), kept exactly as thousandths.
type Q1Row struct {
	Auction, Bidder int64
	PriceMilli      int64 // price × 1000: 908 × the bid's price
	DateTime        int64
	Extra           string
}

// AppendJSON writes {"auction","bidder","price","dateTime","extra"}, price
// with three decimals.
func (r Q1Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = appendInt(b, r.Auction)
	b = appendIntField(b, "bidder", r.Bidder)
	b = appendMilli(appendKey(b, "price"), r.PriceMilli)
	b = appendTimeField(b, "dateTime", r.DateTime)
	b = appendStringField(b, "extra", r.Extra)
	return append(b, '}')
}

// Q2Row is a row of q2 (selection).
type Q2Row struct{ Auction, Price int64 }

// AppendJSON writes {"auction","price"}.
func (r Q2Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = appendInt(b, r.Auction)
	b = appendIntField(b, "price", r.Price)
	return append(b, '}')
}

// Q3Row is a row of q3 (local item suggestion): the seller's name, city
// and state, and the auction's id.
type Q3Row struct {
	Name, City, State string
	ID                int64
}

// AppendJSON writes {"name","city","state","id"}.
func (r Q3Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, r.Name)
	b = appendStringField(b, "city", r.City)
	b = appendStringField(b, "state", r.State)
	b = appendIntField(b, "id", r.ID)
	return append(b, '}')
}

// Q4Row is a row of q4 (average price for a category): the sink table's
// id column holds the category, final the average winning bid (AVG of a
// BIGINT is a BIGINT in Flink SQL: the quotient truncated).
type Q4Row struct{ ID, Final int64 }

// AppendJSON writes {"id","final"}.
func (r Q4Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendInt(b, r.ID)
	b = appendIntField(b, "final", r.Final)
	return append(b, '}')
}

// Q5Row is a row of q5 (hot items): an auction with the most bids in one
// sliding window, and its bid count. Start and End (Unix milliseconds) say
// which window; they are not columns of the suite's table and are not
// written.
type Q5Row struct {
	Auction, Num int64
	Start, End   int64
}

// AppendJSON writes {"auction","num"}.
func (r Q5Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = appendInt(b, r.Auction)
	b = appendIntField(b, "num", r.Num)
	return append(b, '}')
}

// Q8Row is a row of q8 (monitor new users): a person who opened an auction
// in the 10 s window starting at Stime in which they registered.
type Q8Row struct {
	ID    int64
	Name  string
	Stime int64 // window start, Unix milliseconds
}

// AppendJSON writes {"id","name","stime"}.
func (r Q8Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendInt(b, r.ID)
	b = appendStringField(b, "name", r.Name)
	b = appendTimeField(b, "stime", r.Stime)
	return append(b, '}')
}

// Q11Row is a row of q11 (user sessions): the number of bids of a bidder in
// one session, which spans [Starttime, Endtime): from its first bid to 10 s
// after its last.
type Q11Row struct {
	Bidder, BidCount   int64
	Starttime, Endtime int64 // Unix milliseconds
}

// AppendJSON writes {"bidder","bid_count","starttime","endtime"}.
func (r Q11Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"bidder":`...)
	b = appendInt(b, r.Bidder)
	b = appendIntField(b, "bid_count", r.BidCount)
	b = appendTimeField(b, "starttime", r.Starttime)
	b = appendTimeField(b, "endtime", r.Endtime)
	return append(b, '}')
}

// Q13Row is a row of q13 (bounded side input join): a bid with the side
// table's value for its auction id modulo 10,000.
type Q13Row struct {
	Auction, Bidder, Price int64
	DateTime               int64
	Value                  string
}

// AppendJSON writes {"auction","bidder","price","dateTime","value"}.
func (r Q13Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"auction":`...)
	b = appendInt(b, r.Auction)
	b = appendIntField(b, "bidder", r.Bidder)
	b = appendIntField(b, "price", r.Price)
	b = appendTimeField(b, "dateTime", r.DateTime)
	b = appendStringField(b, "value", r.Value)
	return append(b, '}')
}
