package stream_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type tally struct {
	mu                  sync.Mutex
	in, out, errs, fill map[string]int64
	wm                  map[string]stream.Time
}

func newTally() *tally {
	return &tally{in: map[string]int64{}, out: map[string]int64{}, errs: map[string]int64{}, fill: map[string]int64{}, wm: map[string]stream.Time{}}
}

func (t *tally) Operator(name string, _ int) stream.OperatorMetrics {
	return &opTally{t: t, name: name}
}

type opTally struct {
	t    *tally
	name string
}

func (o *opTally) add(m map[string]int64, n int64) {
	o.t.mu.Lock()
	m[o.name] += n
	o.t.mu.Unlock()
}
func (o *opTally) RecordsIn(n int64)  { o.add(o.t.in, n) }
func (o *opTally) RecordsOut(n int64) { o.add(o.t.out, n) }
func (o *opTally) Late(int64)         {}
func (o *opTally) Errors(n int64)     { o.add(o.t.errs, n) }
func (o *opTally) Watermark(w stream.Time) {
	o.t.mu.Lock()
	if w > o.t.wm[o.name] {
		o.t.wm[o.name] = w
	}
	o.t.mu.Unlock()
}
func (o *opTally) QueueFill(used, _ int) { o.add(o.t.fill, 1) }

func TestMetricsHookCountsPerOperator(t *testing.T) {
	t.Parallel()
	m := newTally()
	p := stream.New(stream.WithMetrics(m), stream.WithBatchSize(16))
	s := stream.From(p, stream.Slice(ints(10_000)), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	s = stream.Map(s, func(x int64) int64 { return x + 1 })
	s = stream.Filter(s, func(x int64) bool { return x%2 == 0 })
	pr := stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
		if r.Value%10 == 0 {
			return stream.Rejectf("tens")
		}
		return out.Emit(r)
	}, stream.Name("check"))
	stream.To(pr.DeadLetters(), stream.Discard[stream.DeadLetter[int64]](), stream.Name("dead"))
	stream.To(stream.KeyBy(pr.Stream, func(x int64) int64 { return x }, stream.Parallelism(2)).Stream, stream.Discard[int64](), stream.Name("out"))
	require.NoError(t, p.Run(context.Background()))

	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Equal(t, int64(10_000), m.out["source"])
	assert.Equal(t, int64(10_000), m.in["source.map"])
	assert.Equal(t, int64(10_000), m.out["source.map"])
	assert.Equal(t, int64(10_000), m.in["source.map.filter"])
	assert.Equal(t, int64(5_000), m.out["source.map.filter"])
	assert.Equal(t, int64(5_000), m.in["check"])
	assert.Equal(t, int64(4_000), m.out["check"])
	assert.Equal(t, int64(1_000), m.errs["check"])
	assert.Equal(t, int64(1_000), m.in["dead"])
	assert.Equal(t, int64(4_000), m.in["out"])
	assert.Equal(t, int64(4_000), m.in["check.keyby"], "both keyby instances together")
	assert.Equal(t, stream.MaxTime, m.wm["out"])
	assert.Positive(t, m.fill["check.keyby"], "exchange queue fill reported")
}
