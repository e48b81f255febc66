package prom_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/prom"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// series is a gathered registry: metric name -> "operator/instance" -> value.
type series map[string]map[string]float64

func gather(t testing.TB, g prometheus.Gatherer) series {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	return fromFamilies(mfs)
}

func fromFamilies(mfs []*dto.MetricFamily) series {
	out := series{}
	for _, mf := range mfs {
		m := map[string]float64{}
		for _, x := range mf.GetMetric() {
			var op, inst string
			for _, l := range x.GetLabel() {
				switch l.GetName() {
				case "operator":
					op = l.GetValue()
				case "instance":
					inst = l.GetValue()
				}
			}
			v := x.GetCounter().GetValue()
			if x.Gauge != nil {
				v = x.GetGauge().GetValue()
			}
			m[op+"/"+inst] = v
		}
		out[mf.GetName()] = m
	}
	return out
}

// sum adds the values of every instance of op.
func (s series) sum(name, op string) float64 {
	var t float64
	for k, v := range s[name] {
		if strings.HasPrefix(k, op+"/") {
			t += v
		}
	}
	return t
}

// lateMarker counts every record divisible by 7 as late (and drops it), the
// way a window operator reports records past allowed lateness.
type lateMarker struct{ c *stream.Context }

func (l *lateMarker) Open(c *stream.Context) error { l.c = c; return nil }
func (l *lateMarker) ProcessRecord(r stream.Record[int], out stream.Emitter[int]) error {
	if r.Value%7 == 0 {
		l.c.CountLate(1)
		return nil
	}
	return out.Emit(r)
}
func (l *lateMarker) ProcessWatermark(stream.Time, stream.Emitter[int]) error { return nil }

func TestCountsOfARealPipeline(t *testing.T) {
	t.Parallel()
	const n = 10_000
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	require.NoError(t, err)

	vals := make([]int, n)
	for i := range vals {
		vals[i] = i
	}
	p := stream.New(stream.WithMetrics(m), stream.WithParallelism(3), stream.WithBatchSize(64))
	src := stream.From(p, stream.Slice(vals), stream.Name("plays"))
	checked := stream.Process(src, func(_ *stream.Context, r stream.Record[int], out stream.Emitter[int]) error {
		if r.Value%10 == 0 {
			return stream.Rejectf("multiple of ten: %d", r.Value)
		}
		return out.Emit(r)
	}, stream.Name("validate"))
	stream.To(checked.DeadLetters(), stream.Discard[stream.DeadLetter[int]](), stream.Name("dlq"))
	k := stream.KeyBy(checked.Stream, func(v int) int { return v % 100 }, stream.Name("by-key"))
	kept := stream.Apply(k.Stream, func() stream.Operator[int, int] { return &lateMarker{} }, stream.Name("lateness"))
	out := stream.Collect[int]()
	stream.To(kept, out, stream.Name("out"))
	require.NoError(t, p.Run(context.Background()))

	var bad, late int
	for _, v := range vals {
		switch {
		case v%10 == 0:
			bad++
		case v%7 == 0:
			late++
		}
	}
	require.Len(t, out.Values(), n-bad-late)

	s := gather(t, reg)
	assert.Equal(t, float64(n), s["brook_records_out_total"]["plays/0"])
	assert.Equal(t, float64(n), s["brook_records_in_total"]["validate/0"])
	assert.Equal(t, float64(n-bad), s["brook_records_out_total"]["validate/0"])
	assert.Equal(t, float64(bad), s["brook_errors_total"]["validate/0"])
	assert.Equal(t, float64(bad), s["brook_records_in_total"]["dlq/0"])
	assert.Len(t, s["brook_records_in_total"], 11, "plays, validate, dlq, by-key x3, lateness x3, out.merge, out")
	assert.Equal(t, float64(n-bad), s.sum("brook_records_in_total", "by-key"))
	assert.Equal(t, float64(n-bad), s.sum("brook_records_in_total", "lateness"))
	assert.Equal(t, float64(late), s.sum("brook_late_records_total", "lateness"))
	assert.Equal(t, float64(n-bad-late), s.sum("brook_records_out_total", "lateness"))
	assert.Equal(t, float64(n-bad-late), s["brook_records_in_total"]["out/0"])
	for _, inst := range []string{"0", "1", "2"} {
		assert.Greater(t, s["brook_records_in_total"]["by-key/"+inst], 0.0, "instance %s got records", inst)
		assert.Equal(t, 8.0, s["brook_exchange_queue_capacity_batches"]["by-key/"+inst])
		assert.True(t, math.IsInf(s["brook_watermark_seconds"]["lateness/"+inst], 1), "end of input is +Inf")
	}
	assert.Empty(t, s["brook_watermark_lag_seconds"], "no lag once every input has ended")

	// The same figures through testutil, on one series.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP brook_errors_total Records an operator instance rejected to a dead-letter or error output.
# TYPE brook_errors_total counter
brook_errors_total{instance="0",operator="dlq"} 0
brook_errors_total{instance="0",operator="by-key"} 0
brook_errors_total{instance="1",operator="by-key"} 0
brook_errors_total{instance="2",operator="by-key"} 0
brook_errors_total{instance="0",operator="lateness"} 0
brook_errors_total{instance="1",operator="lateness"} 0
brook_errors_total{instance="2",operator="lateness"} 0
brook_errors_total{instance="0",operator="out"} 0
brook_errors_total{instance="0",operator="out.merge"} 0
brook_errors_total{instance="0",operator="plays"} 0
brook_errors_total{instance="0",operator="validate"} 1000
`), "brook_errors_total"))
}

func TestWatermarkAndLagUseTheClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := streamtest.NewClock(start)
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg, prom.Clock(clk))
	require.NoError(t, err)

	wm := stream.TimeOf(start.Add(-90 * time.Second))
	hold := make(chan struct{})
	src := streamtest.NewScript(
		streamtest.Rec(1, wm-5),
		streamtest.Watermark[int](wm),
		streamtest.WaitFor[int](hold),
	)
	p := stream.New(stream.WithMetrics(m), stream.WithClock(clk), stream.WithParallelism(2))
	k := stream.KeyBy(stream.From(p, src, stream.Name("src")), func(v int) int { return v }, stream.Name("x"))
	stream.To(k.Stream, stream.Discard[int](), stream.Name("sink"))
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()

	want := float64(wm) / 1e9
	require.Eventually(t, func() bool {
		return gather(t, reg)["brook_watermark_seconds"]["sink/0"] == want
	}, 10*time.Second, time.Millisecond, "the sink reports the watermark")
	s := gather(t, reg)
	assert.InDelta(t, want, s["brook_watermark_seconds"]["src/0"], 1e-9)
	assert.InDelta(t, 90, s["brook_watermark_lag_seconds"]["sink/0"], 1e-6)
	assert.InDelta(t, 90, s["brook_watermark_lag_seconds"]["x/1"], 1e-6, "an idle instance still sees the watermark")

	clk.Advance(30 * time.Second)
	assert.InDelta(t, 120, gather(t, reg)["brook_watermark_lag_seconds"]["sink/0"], 1e-6, "lag is computed at scrape time")

	close(hold)
	require.NoError(t, <-errc)
	s = gather(t, reg)
	assert.True(t, math.IsInf(s["brook_watermark_seconds"]["sink/0"], 1))
	assert.NotContains(t, s["brook_watermark_lag_seconds"], "sink/0")
}

func TestQueueFillShowsBackpressure(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	require.NoError(t, err)
	release := make(chan struct{})
	token := make(chan struct{})
	p := stream.New(stream.WithMetrics(m), stream.WithParallelism(1), stream.WithBatchSize(1), stream.WithChannelCapacity(4))
	r := stream.Rebalance(stream.From(p, stream.Generate(100, func(i int64) stream.Record[int64] { return stream.At(i, 0) })),
		stream.Name("slow"))
	stream.To(stream.Map(r, func(v int64) int64 { return v }), stream.SinkFunc[int64](func(ctx context.Context, _ stream.Record[int64]) error {
		select {
		case <-release:
			return nil
		case <-token:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	// The sink blocks on its first record while the exchange in front of it
	// fills up. The receiver reports the fill after each batch it has
	// handled: let one record through.
	token <- struct{}{}
	require.Eventually(t, func() bool {
		return gather(t, reg)["brook_exchange_queue_batches"]["slow/0"] >= 3
	}, 10*time.Second, time.Millisecond)
	s := gather(t, reg)
	assert.Equal(t, 4.0, s["brook_exchange_queue_capacity_batches"]["slow/0"])
	assert.LessOrEqual(t, s["brook_exchange_queue_batches"]["slow/0"], 4.0)
	close(release)
	require.NoError(t, <-errc)
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := prom.New(reg)
	require.NoError(t, err)
	_, err = prom.New(reg)
	var are prometheus.AlreadyRegisteredError
	require.True(t, errors.As(err, &are), "a second Metrics on one registry is refused: %v", err)

	// Distinct const labels or namespaces can share a registry.
	_, err = prom.New(reg, prom.ConstLabels(prometheus.Labels{"worker": "w2"}))
	require.Error(t, err, "same names with different label dimensions are inconsistent")
	reg2 := prometheus.NewRegistry()
	a, err := prom.New(reg2, prom.ConstLabels(prometheus.Labels{"worker": "w1"}))
	require.NoError(t, err)
	b, err := prom.New(reg2, prom.ConstLabels(prometheus.Labels{"worker": "w2"}))
	require.NoError(t, err)
	a.Operator("op", 0).RecordsIn(3)
	b.Operator("op", 0).RecordsIn(5)
	b.Operator("op", 0).RecordsIn(1) // the same handle again
	require.NoError(t, testutil.GatherAndCompare(reg2, strings.NewReader(`
# HELP brook_records_in_total Records an operator instance received.
# TYPE brook_records_in_total counter
brook_records_in_total{instance="0",operator="op",worker="w1"} 3
brook_records_in_total{instance="0",operator="op",worker="w2"} 6
`), "brook_records_in_total"))

	reg3 := prometheus.NewRegistry()
	c, err := prom.New(reg3, prom.Namespace("jw"))
	require.NoError(t, err)
	c.Operator("op", 1).Errors(2)
	n, err := testutil.GatherAndCount(reg3, "jw_errors_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// Nothing went to the global registry.
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.False(t, strings.HasPrefix(mf.GetName(), "brook_"), mf.GetName())
	}
}

func TestScrapeOverHTTP(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	require.NoError(t, err)
	p := stream.New(stream.WithMetrics(m))
	stream.To(stream.From(p, stream.Slice([]string{"a", "b", "c"}), stream.Name("words")), stream.Discard[string]())
	require.NoError(t, p.Run(context.Background()))

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	var list []*dto.MetricFamily
	for _, f := range fams {
		list = append(list, f)
	}
	s := fromFamilies(list)
	assert.Equal(t, 3.0, s["brook_records_out_total"]["words/0"])
	assert.Equal(t, 3.0, s["brook_records_in_total"]["words.sink/0"])
	assert.Equal(t, dto.MetricType_GAUGE, fams["brook_watermark_seconds"].GetType())
}
