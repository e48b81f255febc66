package window_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ev is the test record: a key, a value and a unique id.
type ev struct {
	Key int
	V   int
	ID  int
}

func evKey(e ev) int { return e.Key }

// lateMetrics counts the late records reported to the metrics hook.
type lateMetrics struct{ late atomic.Int64 }

func (m *lateMetrics) Operator(string, int) stream.OperatorMetrics { return lateOp{m} }

type lateOp struct{ m *lateMetrics }

func (lateOp) RecordsIn(int64)       {}
func (lateOp) RecordsOut(int64)      {}
func (o lateOp) Late(n int64)        { o.m.late.Add(n) }
func (lateOp) Errors(int64)          {}
func (lateOp) Watermark(stream.Time) {}
func (lateOp) QueueFill(int, int)    {}

// outcome is what a windowed pipeline produced.
type outcome[Out any] struct {
	results *streamtest.Sink[window.Result[int, Out]]
	late    *streamtest.Sink[window.LateRecord[ev]]
	lateN   int64
}

type runOpts struct {
	// input builds the source stream; by default it is From(p, src).
	input   func(p *stream.Pipeline) stream.Stream[ev]
	par     int
	batch   int
	clock   stream.Clock
	noLate  bool
	between func(stream.KeyedStream[int, ev]) stream.KeyedStream[int, ev]
}

// runWindow runs src -> KeyBy(Key) -> build, collecting results and late
// records.
func runWindow[Out any](t testing.TB, src stream.Source[ev], o runOpts, build func(stream.KeyedStream[int, ev]) window.Windowed[int, ev, Out]) outcome[Out] {
	t.Helper()
	if o.par == 0 {
		o.par = 1
	}
	if o.batch == 0 {
		o.batch = 256
	}
	m := &lateMetrics{}
	popts := []stream.Option{stream.WithBatchSize(o.batch), stream.WithMetrics(m), stream.WithChannelCapacity(2)}
	if o.clock != nil {
		popts = append(popts, stream.WithClock(o.clock))
	}
	p := stream.New(popts...)
	var in stream.Stream[ev]
	if o.input != nil {
		in = o.input(p)
	} else {
		in = stream.From(p, src)
	}
	keyed := stream.KeyBy(in, evKey, stream.Parallelism(o.par))
	if o.between != nil {
		keyed = o.between(keyed)
	}
	w := build(keyed)
	res := outcome[Out]{results: streamtest.NewSink[window.Result[int, Out]]()}
	stream.To(w.Stream, res.results)
	if !o.noLate {
		res.late = streamtest.NewSink[window.LateRecord[ev]]()
		stream.To(w.Late(), res.late)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Run(ctx))
	res.lateN = m.late.Load()
	return res
}

func dur(n int64) time.Duration { return time.Duration(n) }
