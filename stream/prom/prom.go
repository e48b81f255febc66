package prom

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brook-streams/brook/stream"
)

// Option configures [New]. Options are values of a sealed interface.
type Option interface{ apply(*config) }

type config struct {
	namespace   string
	constLabels prometheus.Labels
	clock       stream.Clock
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Namespace sets the metric name prefix (default "brook").
func Namespace(ns string) Option { return optionFunc(func(c *config) { c.namespace = ns }) }

// ConstLabels adds labels with fixed values to every metric, for example the
// worker's name when several processes report to one Prometheus.
func ConstLabels(l prometheus.Labels) Option {
	return optionFunc(func(c *config) { c.constLabels = l })
}

// Clock sets the clock the watermark lag and the age of the last completed
// checkpoint are measured with (default [stream.SystemClock]); give it the
// pipeline's clock.
func Clock(clk stream.Clock) Option {
	return optionFunc(func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	})
}

// Metrics is a [stream.Metrics] that keeps the figures as Prometheus
// metrics. It is also the [prometheus.Collector] that [New] registers. It is
// safe for concurrent use, and may serve several pipelines (or runs): an
// operator name and instance reported twice share their series, and the
// checkpoint figures are those of every pipeline it serves together.
//
// It implements [stream.CheckpointMetrics], and its operator handles
// [stream.AlignmentMetrics], so a pipeline with checkpoints reports them
// without further setup.
type Metrics struct {
	in, out, late, errs *prometheus.CounterVec
	queueUsed, queueCap *prometheus.GaugeVec
	alignLast           *prometheus.GaugeVec
	alignTotal          *prometheus.CounterVec
	wmDesc, lagDesc     *prometheus.Desc
	clock               stream.Clock

	ckDone, ckFailed prometheus.Counter
	ckDuration       prometheus.Gauge
	ckBytes          prometheus.Gauge
	ckID             prometheus.Gauge
	ckAgeDesc        *prometheus.Desc
	ckLast           atomic.Int64 // clock reading (Unix ns) at the last completion; 0: none

	mu  sync.Mutex
	ops map[opKey]*operator
}

var (
	_ stream.Metrics           = (*Metrics)(nil)
	_ stream.CheckpointMetrics = (*Metrics)(nil)
	_ stream.AlignmentMetrics  = (*operator)(nil)
)

type opKey struct {
	name string
	inst int
}

// New returns Metrics registered with reg. It fails if reg already holds
// metrics of the same names and labels (for example, a second Metrics with
// the same namespace and const labels).
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	cfg := config{namespace: "brook", clock: stream.SystemClock{}}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	labels := []string{"operator", "instance"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: cfg.namespace, Name: name, Help: help, ConstLabels: cfg.constLabels,
		}, labels)
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: cfg.namespace, Name: name, Help: help, ConstLabels: cfg.constLabels,
		}, labels)
	}
	plain := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: cfg.namespace, Name: name, Help: help, ConstLabels: cfg.constLabels}
	}
	m := &Metrics{
		in:        counter("records_in_total", "Records an operator instance received."),
		out:       counter("records_out_total", "Records an operator instance emitted on its main output."),
		late:      counter("late_records_total", "Late records (past allowed lateness) an operator instance saw."),
		errs:      counter("errors_total", "Records an operator instance rejected to a dead-letter or error output."),
		queueUsed: gauge("exchange_queue_batches", "Batches waiting in the input exchange of an operator instance."),
		queueCap:  gauge("exchange_queue_capacity_batches", "Capacity, in batches, of the input exchange of an operator instance."),
		wmDesc: prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", "watermark_seconds"),
			"Current input watermark of an operator instance, in Unix seconds (+Inf after the end of input).",
			labels, cfg.constLabels),
		lagDesc: prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", "watermark_lag_seconds"),
			"Processing time minus the input watermark of an operator instance, at scrape time.",
			labels, cfg.constLabels),
		alignLast: gauge("checkpoint_alignment_seconds",
			"Time the last checkpoint barrier took to align over the inputs of an exchange-fed operator instance."),
		alignTotal: counter("checkpoint_alignment_seconds_total",
			"Time an exchange-fed operator instance spent aligning checkpoint barriers, inputs held back meanwhile."),
		ckDone:     prometheus.NewCounter(prometheus.CounterOpts(plain("checkpoints_completed_total", "Checkpoints stored and committed."))),
		ckFailed:   prometheus.NewCounter(prometheus.CounterOpts(plain("checkpoints_failed_total", "Checkpoints that could not be stored or committed."))),
		ckDuration: prometheus.NewGauge(prometheus.GaugeOpts(plain("checkpoint_last_duration_seconds", "Time the last completed checkpoint took, from its trigger to its commit."))),
		ckBytes:    prometheus.NewGauge(prometheus.GaugeOpts(plain("checkpoint_last_size_bytes", "Bytes of state in the last completed checkpoint."))),
		ckID:       prometheus.NewGauge(prometheus.GaugeOpts(plain("checkpoint_last_id", "Id of the last completed checkpoint."))),
		ckAgeDesc: prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", "checkpoint_last_age_seconds"),
			"Time since the last checkpoint completed, by the clock, at scrape time.", nil, cfg.constLabels),
		clock: cfg.clock,
		ops:   map[opKey]*operator{},
	}
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Operator returns the OperatorMetrics of an operator instance.
func (m *Metrics) Operator(name string, instance int) stream.OperatorMetrics {
	k := opKey{name, instance}
	m.mu.Lock()
	defer m.mu.Unlock()
	if op, ok := m.ops[k]; ok {
		return op
	}
	inst := strconv.Itoa(instance)
	op := &operator{
		m: m, name: name, inst: inst,
		in:   m.in.WithLabelValues(name, inst),
		out:  m.out.WithLabelValues(name, inst),
		late: m.late.WithLabelValues(name, inst),
		errs: m.errs.WithLabelValues(name, inst),
	}
	op.wm.Store(int64(stream.MinTime))
	m.ops[k] = op
	return op
}

// Describe sends the descriptors of every metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.in.Describe(ch)
	m.out.Describe(ch)
	m.late.Describe(ch)
	m.errs.Describe(ch)
	m.queueUsed.Describe(ch)
	m.queueCap.Describe(ch)
	m.alignLast.Describe(ch)
	m.alignTotal.Describe(ch)
	ch <- m.wmDesc
	ch <- m.lagDesc
	m.ckDone.Describe(ch)
	m.ckFailed.Describe(ch)
	m.ckDuration.Describe(ch)
	m.ckBytes.Describe(ch)
	m.ckID.Describe(ch)
	ch <- m.ckAgeDesc
}

// Collect sends the current values. Watermarks, lags and the age of the
// last completed checkpoint are read at this moment; an instance that has
// seen no watermark yet has neither watermark nor lag, one whose input has
// ended reports a watermark of +Inf and no lag, and there is no age before
// the first checkpoint completes.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.in.Collect(ch)
	m.out.Collect(ch)
	m.late.Collect(ch)
	m.errs.Collect(ch)
	m.queueUsed.Collect(ch)
	m.queueCap.Collect(ch)
	m.alignLast.Collect(ch)
	m.alignTotal.Collect(ch)
	m.ckDone.Collect(ch)
	m.ckFailed.Collect(ch)
	m.ckDuration.Collect(ch)
	m.ckBytes.Collect(ch)
	m.ckID.Collect(ch)
	if last := m.ckLast.Load(); last != 0 {
		age := m.clock.Now().UnixNano() - last
		ch <- prometheus.MustNewConstMetric(m.ckAgeDesc, prometheus.GaugeValue, seconds(max(age, 0)))
	}
	m.mu.Lock()
	ops := make([]*operator, 0, len(m.ops))
	for _, op := range m.ops {
		ops = append(ops, op)
	}
	m.mu.Unlock()
	now := m.clock.Now()
	for _, op := range ops {
		w := stream.Time(op.wm.Load())
		switch w {
		case stream.MinTime:
			continue
		case stream.MaxTime:
			ch <- prometheus.MustNewConstMetric(m.wmDesc, prometheus.GaugeValue, math.Inf(1), op.name, op.inst)
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.wmDesc, prometheus.GaugeValue, seconds(int64(w)), op.name, op.inst)
		lag := now.UnixNano() - int64(w)
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, seconds(lag), op.name, op.inst)
	}
}

// CheckpointCompleted implements [stream.CheckpointMetrics]: it counts the
// checkpoint and keeps its duration, size and id, and the clock's time for
// the age.
func (m *Metrics) CheckpointCompleted(id int64, d time.Duration, bytes int) {
	m.ckDone.Inc()
	m.ckDuration.Set(d.Seconds())
	m.ckBytes.Set(float64(bytes))
	m.ckID.Set(float64(id))
	now := m.clock.Now().UnixNano()
	if now == 0 {
		now = 1 // 0 means none
	}
	m.ckLast.Store(now)
}

// CheckpointFailed implements [stream.CheckpointMetrics]: it counts the
// failure.
func (m *Metrics) CheckpointFailed(int64) { m.ckFailed.Inc() }

func seconds(ns int64) float64 {
	s, frac := ns/1e9, ns%1e9
	return float64(s) + float64(frac)/1e9
}

// operator is one instance's handle: counters bound to its labels, and its
// watermark for the scrape.
type operator struct {
	m                   *Metrics
	name, inst          string
	in, out, late, errs prometheus.Counter
	queueOnce           sync.Once
	queueUsed, queueCap prometheus.Gauge // made at the first QueueFill
	alignOnce           sync.Once
	alignLast           prometheus.Gauge // made at the first Alignment
	alignTotal          prometheus.Counter
	wm                  atomic.Int64
}

func (o *operator) RecordsIn(n int64)  { o.in.Add(float64(n)) }
func (o *operator) RecordsOut(n int64) { o.out.Add(float64(n)) }
func (o *operator) Late(n int64)       { o.late.Add(float64(n)) }
func (o *operator) Errors(n int64)     { o.errs.Add(float64(n)) }
func (o *operator) Watermark(w stream.Time) {
	o.wm.Store(int64(w))
}

func (o *operator) QueueFill(used, capacity int) {
	o.queueOnce.Do(func() {
		o.queueUsed = o.m.queueUsed.WithLabelValues(o.name, o.inst)
		o.queueCap = o.m.queueCap.WithLabelValues(o.name, o.inst)
	})
	o.queueUsed.Set(float64(used))
	o.queueCap.Set(float64(capacity))
}

// Alignment implements [stream.AlignmentMetrics].
func (o *operator) Alignment(d time.Duration) {
	o.alignOnce.Do(func() {
		o.alignLast = o.m.alignLast.WithLabelValues(o.name, o.inst)
		o.alignTotal = o.m.alignTotal.WithLabelValues(o.name, o.inst)
	})
	o.alignLast.Set(d.Seconds())
	o.alignTotal.Add(d.Seconds())
}
