package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/brook-streams/brook/stream"
)

// WatermarkDelay is the out-of-orderness bound of every query's input, as
// in the nexmark suite's DDL (WATERMARK FOR dateTime AS dateTime - 4 s):
// after events up to time t the watermark is t - 4 s - 1 ns.
const WatermarkDelay = 4 * time.Second

// DefaultChunk is the number of consecutive events one source record
// stands for (see [Events]).
const DefaultChunk = 1024

// EventTable is a random-access sequence of events: a [*Generator], or a
// slice of events ([EventSlice]).
type EventTable interface {
	Event(n int64) Event
}

// EventSlice is an EventTable of given events.
type EventSlice []Event

// Event returns s[n].
func (s EventSlice) Event(n int64) Event { return s[n] }

// span is the events [lo, hi) of an EventTable.
type span struct{ lo, hi int64 }

// Events adds the events 0..n-1 of t to p as a stream at their event
// times, with watermarks WatermarkDelay behind the largest time seen.
//
// The source emits spans of chunk consecutive event numbers (0: DefaultChunk);
// each is expanded into its events where it is consumed. With parallel > 1
// the spans are dealt round-robin to parallel instances, so the events are
// generated in parallel, as the nexmark suite's parallel source does: each
// instance sees its own events in order and generates its own watermarks,
// and downstream operators take the minimum over instances. With parallel 1
// everything up to the first exchange runs in the source's goroutine.
func Events(p *stream.Pipeline, t EventTable, n int64, parallel, chunk int) stream.Stream[Event] {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	c := int64(chunk)
	spans := stream.Generate((n+c-1)/c, func(i int64) stream.Record[span] {
		return stream.Record[span]{Value: span{lo: i * c, hi: min(i*c+c, n)}}
	})
	s := stream.From(p, spans, stream.Name("nexmark-source"))
	if parallel > 1 {
		s = stream.Rebalance(s, stream.Parallelism(parallel), stream.BatchSize(1), stream.Name("nexmark-spans"))
	}
	ev := stream.Apply(s, func() stream.Operator[span, Event] { return &expand{t: t} }, stream.Name("nexmark-events"))
	return stream.AssignWatermarks(ev, stream.BoundedOutOfOrderness[Event](WatermarkDelay))
}

// expand emits the events of a span, each at its dateTime.
type expand struct{ t EventTable }

var _ stream.Operator[span, Event] = (*expand)(nil)

func (x *expand) ProcessRecord(r stream.Record[span], out stream.Emitter[Event]) error {
	for i := r.Value.lo; i < r.Value.hi; i++ {
		e := x.t.Event(i)
		if err := out.Emit(stream.Record[Event]{Time: eventTime(e.DateTime()), Value: e}); err != nil {
			return err
		}
	}
	return nil
}

func (x *expand) ProcessWatermark(stream.Time, stream.Emitter[Event]) error { return nil }

// eventTime converts milliseconds since the epoch to a stream.Time.
func eventTime(ms int64) stream.Time { return stream.Time(ms * int64(time.Millisecond)) }

// millis converts a stream.Time to milliseconds since the epoch.
func millis(t stream.Time) int64 { return int64(t) / int64(time.Millisecond) }

// line is one line of an input file with its 1-based number.
type line struct {
	n    int64
	text []byte
}

// lineSource reads JSON Lines.
type lineSource struct{ r io.Reader }

func (s lineSource) Run(ctx context.Context, out stream.SourceOutput[line]) error {
	br := bufio.NewReaderSize(s.r, 1<<20)
	done := ctx.Done()
	for n := int64(1); ; n++ {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			if n&1023 == 0 {
				select {
				case <-done:
					return ctx.Err()
				default:
				}
			}
			if e := out.Emit(stream.Record[line]{Value: line{n: n, text: text}}); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", n, err)
		}
	}
}

// FileEvents adds the events of a JSON Lines stream (as written by -dump)
// to p, in file order, with watermarks WatermarkDelay behind the largest
// time seen. With parallel > 1 the lines are decoded by parallel instances
// (lines dealt round-robin). Blank lines are skipped; a line that does not
// decode fails the run with its line number.
func FileEvents(p *stream.Pipeline, r io.Reader, parallel int) stream.Stream[Event] {
	s := stream.From(p, stream.Source[line](lineSource{r: r}), stream.Name("nexmark-file"))
	if parallel > 1 {
		s = stream.Rebalance(s, stream.Parallelism(parallel), stream.Name("nexmark-lines"))
	}
	ev := stream.Apply(s, func() stream.Operator[line, Event] { return decode{} }, stream.Name("nexmark-decode"))
	return stream.AssignWatermarks(ev, stream.BoundedOutOfOrderness[Event](WatermarkDelay))
}

type decode struct{}

func (decode) ProcessRecord(r stream.Record[line], out stream.Emitter[Event]) error {
	text := trimSpace(r.Value.text)
	if len(text) == 0 {
		return nil
	}
	e, err := DecodeEvent(text)
	if err != nil {
		return fmt.Errorf("line %d: %w", r.Value.n, err)
	}
	return out.Emit(stream.Record[Event]{Time: eventTime(e.DateTime()), Value: e})
}

func (decode) ProcessWatermark(stream.Time, stream.Emitter[Event]) error { return nil }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// Dump writes the events 0..n-1 of t to w as JSON Lines.
func Dump(w io.Writer, t EventTable, n int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var buf []byte
	for i := range n {
		e := t.Event(i)
		buf = append(e.AppendJSON(buf[:0]), '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
