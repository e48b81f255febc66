package main

import (
	"bufio"
	"context"
	"io"

	"github.com/brook-streams/brook/stream"
)

// RowSink is where a query's rows go: JSON Lines to W (nil: nowhere), and
// Rows to OnRow (nil: not called). N counts the rows; read it after the run.
type RowSink struct {
	W     io.Writer
	OnRow func(stream.Record[Row])
	N     int64
}

// rowSink writes rows of type T. Rows arrive from one goroutine at a time
// (the sink is a single instance).
type rowSink[T Row] struct {
	s   *RowSink
	bw  *bufio.Writer
	buf []byte
}

var _ stream.Sink[BidRow] = (*rowSink[BidRow])(nil)
var _ stream.Syncer = (*rowSink[BidRow])(nil)

// rowSinkOf returns the sink of s for rows of type T. Rows that go nowhere
// (no W, no OnRow) are counted by a [stream.SinkFunc], which the runtime
// calls directly, without the Sink interface: the suite's blackhole sink.
func rowSinkOf[T Row](s *RowSink) stream.Sink[T] {
	if s.W == nil && s.OnRow == nil {
		return stream.SinkFunc[T](func(context.Context, stream.Record[T]) error {
			s.N++
			return nil
		})
	}
	r := &rowSink[T]{s: s}
	if s.W != nil {
		r.bw = bufio.NewWriterSize(s.W, 1<<20)
	}
	return r
}

// Write counts r and writes it.
func (r *rowSink[T]) Write(_ context.Context, rec stream.Record[T]) error {
	r.s.N++
	if r.bw != nil {
		r.buf = append(rec.Value.AppendJSON(r.buf[:0]), '\n')
		if _, err := r.bw.Write(r.buf); err != nil {
			return err
		}
	}
	if r.s.OnRow != nil {
		r.s.OnRow(stream.Record[Row]{Time: rec.Time, Value: rec.Value})
	}
	return nil
}

// Sync writes out what is buffered.
func (r *rowSink[T]) Sync(context.Context) error {
	if r.bw == nil {
		return nil
	}
	return r.bw.Flush()
}
