package stream

import "time"

// Metrics is the hook operators report to. The runtime asks it once per
// operator instance for an [OperatorMetrics] when a run starts, and reports
// counts in increments (per batch, not per record), so an implementation may
// be as simple as a few atomic counters. Implementations must be safe for
// concurrent use. Package stream/prom adapts it to Prometheus.
type Metrics interface {
	Operator(name string, instance int) OperatorMetrics
}

// OperatorMetrics receives one operator instance's figures. Its methods are
// called from the instance's goroutine; several instances report to the same
// Metrics concurrently.
type OperatorMetrics interface {
	// RecordsIn adds n to the records the instance received.
	RecordsIn(n int64)
	// RecordsOut adds n to the records the instance emitted on its main output.
	RecordsOut(n int64)
	// Late adds n to the late records (past allowed lateness) the instance saw.
	Late(n int64)
	// Errors adds n to the records the instance rejected to a dead-letter or
	// error output.
	Errors(n int64)
	// Watermark reports the instance's current input watermark.
	Watermark(w Time)
	// QueueFill reports how many batches wait in the instance's input
	// exchange, and its capacity. Only exchange-fed instances report it.
	QueueFill(used, capacity int)
}

// CheckpointMetrics is implemented by a [Metrics] hook that wants the
// checkpoint figures (package stream/prom does). Its methods are called from
// the checkpoint coordinator's goroutine.
type CheckpointMetrics interface {
	// CheckpointCompleted reports a checkpoint stored and committed: how long
	// it took from its trigger, and the bytes of state it holds.
	CheckpointCompleted(id int64, duration time.Duration, bytes int)
	// CheckpointFailed reports a checkpoint that could not be stored or
	// committed (the run then fails).
	CheckpointFailed(id int64)
}

// AlignmentMetrics is implemented by an [OperatorMetrics] that wants the time
// an exchange-fed instance spent aligning a checkpoint barrier: from the
// barrier's arrival on its first input to its arrival on the last, while the
// inputs that had delivered it were held back.
type AlignmentMetrics interface {
	Alignment(d time.Duration)
}

// NopMetrics discards every report. It is the default.
type NopMetrics struct{}

// Operator returns a no-op OperatorMetrics.
func (NopMetrics) Operator(string, int) OperatorMetrics { return nopOperatorMetrics{} }

type nopOperatorMetrics struct{}

func (nopOperatorMetrics) RecordsIn(int64)    {}
func (nopOperatorMetrics) RecordsOut(int64)   {}
func (nopOperatorMetrics) Late(int64)         {}
func (nopOperatorMetrics) Errors(int64)       {}
func (nopOperatorMetrics) Watermark(Time)     {}
func (nopOperatorMetrics) QueueFill(int, int) {}

// counts is an operator instance's local tally, reported to its
// OperatorMetrics in increments.
type counts struct {
	in, out, late, errs int64
	wm, reportedWm      Time
	m                   OperatorMetrics
	oneToOne            bool // out is always in (Map)
}

func (c *counts) report() {
	if c.m == nil {
		return
	}
	if c.oneToOne {
		c.out = c.in
	}
	if c.in != 0 {
		c.m.RecordsIn(c.in)
		c.in = 0
	}
	if c.out != 0 {
		c.m.RecordsOut(c.out)
		c.out = 0
	}
	if c.late != 0 {
		c.m.Late(c.late)
		c.late = 0
	}
	if c.errs != 0 {
		c.m.Errors(c.errs)
		c.errs = 0
	}
	if c.wm != c.reportedWm {
		c.m.Watermark(c.wm)
		c.reportedWm = c.wm
	}
}
