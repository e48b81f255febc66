package stream_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// wmOp passes every record on and, after each record whose value is a
// multiple of four, a record holding the watermark it has seen
// (Context.Watermark) at that record's time.
type wmOp struct{ c *stream.Context }

func (o *wmOp) Open(c *stream.Context) error { o.c = c; return nil }

func (o *wmOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[int64]) error {
	if err := out.Emit(r); err != nil {
		return err
	}
	if r.Value%4 == 0 {
		return out.Emit(stream.At(int64(o.c.Watermark()), r.Time))
	}
	return nil
}

func (o *wmOp) ProcessWatermark(stream.Time, stream.Emitter[int64]) error { return nil }

// batchWMOp is wmOp as a BatchProcessor: a run of records at a time, its
// output emitted with EmitBatch.
type batchWMOp struct {
	wmOp
	buf []stream.Record[int64]
}

func (o *batchWMOp) ProcessBatch(rs []stream.Record[int64], out stream.Emitter[int64]) error {
	buf := o.buf[:0]
	for _, r := range rs {
		buf = append(buf, r)
		if r.Value%4 == 0 {
			buf = append(buf, stream.At(int64(o.c.Watermark()), r.Time))
		}
	}
	o.buf = buf
	return stream.EmitBatch(out, buf)
}

var _ stream.BatchProcessor[int64, int64] = (*batchWMOp)(nil)

// logOp logs every record it gets ("op v"), emits it, and emits it a second
// time when it is even; every tenth also goes to its side output. It logs
// the length of each run it gets in runs (ProcessRecord: a run of one) and
// emits with EmitBatch.
type logOp struct {
	c    *stream.Context
	log  *[]string
	runs *[]int
	side *stream.OutputTag[int64]
	buf  []stream.Record[int64]
}

func (o *logOp) Open(c *stream.Context) error { o.c = c; return nil }

func (o *logOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[int64]) error {
	return o.ProcessBatch([]stream.Record[int64]{r}, out)
}

func (o *logOp) ProcessBatch(rs []stream.Record[int64], out stream.Emitter[int64]) error {
	*o.runs = append(*o.runs, len(rs))
	buf := o.buf[:0]
	for _, r := range rs {
		*o.log = append(*o.log, fmt.Sprint("op ", r.Value))
		buf = append(buf, r)
		if r.Value%2 == 0 {
			buf = append(buf, r)
		}
		if r.Value%10 == 0 && stream.Connected(o.c, o.side) {
			if err := stream.Output(o.c, o.side).Emit(r); err != nil {
				return err
			}
		}
	}
	o.buf = buf
	return stream.EmitBatch(out, buf)
}

func (o *logOp) ProcessWatermark(stream.Time, stream.Emitter[int64]) error { return nil }

// plainLogOp is a logOp that is not a BatchProcessor.
type plainLogOp struct{ o *logOp }

func (p plainLogOp) Open(c *stream.Context) error { return p.o.Open(c) }
func (p plainLogOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[int64]) error {
	return p.o.ProcessRecord(r, out)
}
func (p plainLogOp) ProcessWatermark(w stream.Time, out stream.Emitter[int64]) error {
	return p.o.ProcessWatermark(w, out)
}

// TestBatchProcessorTakesTheChainsBatches: the Map in front of a
// BatchProcessor runs a whole batch before the operator gets it in one
// call, when everything behind the operator (main and side outputs) takes
// batches; in front of an operator that is not one, or of a BatchProcessor
// with a user operator behind its main or side output, every record goes
// through Map and the operator one at a time. The output and every
// operator's counts are the same either way.
func TestBatchProcessorTakesTheChainsBatches(t *testing.T) {
	t.Parallel()
	const n, bs = 1000, 100
	for _, tc := range []struct {
		name            string
		plain           bool // the operator is not a BatchProcessor
		behind, sideout string
		batched         bool
	}{
		{name: "sink", behind: "sink", batched: true},
		{name: "map-sink", behind: "map", batched: true},
		{name: "side-sink", behind: "sink", sideout: "sink", batched: true},
		{name: "plain", plain: true, behind: "sink"},
		{name: "process", behind: "process"},
		{name: "side-process", behind: "sink", sideout: "process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log []string
			var runs []int
			m := newTally()
			p := stream.New(stream.WithBatchSize(bs), stream.WithMetrics(m))
			s := stream.From(p, stream.Slice(ints(n)))
			s = stream.Map(s, func(x int64) int64 {
				log = append(log, fmt.Sprint("map ", x))
				return x
			}, stream.Name("map"))
			side := stream.NewOutputTag[int64]("tens")
			out := stream.Apply(s, func() stream.Operator[int64, int64] {
				o := &logOp{log: &log, runs: &runs, side: side}
				if tc.plain {
					return plainLogOp{o}
				}
				return o
			}, stream.Name("op"))
			user := func(s stream.Stream[int64], name string) stream.Stream[int64] {
				return stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
					log = append(log, fmt.Sprint(name, " ", r.Value))
					return out.Emit(r)
				}, stream.Name(name)).Stream
			}
			switch tc.behind {
			case "map":
				out = stream.Map(out, func(x int64) int64 { return x + 1 })
			case "process":
				out = user(out, "process")
			}
			got := stream.Collect[int64]()
			stream.To(out, got, stream.Name("out"))
			tens := stream.Collect[int64]()
			switch tc.sideout {
			case "sink":
				stream.To(stream.SideOutput(out, side), tens)
			case "process":
				stream.To(user(stream.SideOutput(out, side), "side"), tens)
			}
			require.NoError(t, p.Run(context.Background()))

			var want, wantTens []int64
			for x := range int64(n) {
				if tc.behind == "map" {
					want = append(want, x+1)
				} else {
					want = append(want, x)
				}
				if x%2 == 0 {
					want = append(want, want[len(want)-1])
				}
				if x%10 == 0 {
					wantTens = append(wantTens, x)
				}
			}
			assert.Equal(t, want, got.Values())
			if tc.sideout != "" {
				assert.Equal(t, wantTens, tens.Values())
			}
			m.mu.Lock()
			assert.Equal(t, int64(n), m.in["op"], "records into op")
			assert.Equal(t, int64(n+n/2), m.out["op"], "records out of op")
			assert.Equal(t, int64(n+n/2), m.in["out"], "records into out")
			m.mu.Unlock()

			if tc.batched {
				assert.Equal(t, slices.Repeat([]int{bs}, n/bs), runs, "runs the operator got")
				for b := range n / bs {
					for i := range bs {
						require.Equal(t, fmt.Sprint("map ", b*bs+i), log[2*b*bs+i])
						require.Equal(t, fmt.Sprint("op ", b*bs+i), log[2*b*bs+bs+i])
					}
				}
				return
			}
			assert.Equal(t, n, len(runs))
			assert.Equal(t, 1, slices.Max(runs), "runs the operator got")
			// one at a time: map, op, the side output's operator, the
			// operator behind (twice for an even record)
			var wantLog []string
			for x := range n {
				wantLog = append(wantLog, fmt.Sprint("map ", x), fmt.Sprint("op ", x))
				if tc.sideout == "process" && x%10 == 0 {
					wantLog = append(wantLog, fmt.Sprint("side ", x))
				}
				if tc.behind == "process" {
					wantLog = append(wantLog, fmt.Sprint("process ", x))
					if x%2 == 0 {
						wantLog = append(wantLog, fmt.Sprint("process ", x))
					}
				}
			}
			assert.Equal(t, wantLog, log)
		})
	}
}
