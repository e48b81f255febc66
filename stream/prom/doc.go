// Package prom adapts brook's metrics hook ([stream.Metrics]) to Prometheus.
//
// [New] registers one collector on the [prometheus.Registerer] it is given
// (there is no global registry) and returns a [Metrics] to pass to
// [stream.WithMetrics]:
//
//	reg := prometheus.NewRegistry()
//	m, err := prom.New(reg, prom.Clock(clock))
//	if err != nil { ... }
//	p := stream.New(stream.WithMetrics(m), stream.WithClock(clock))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every series is labelled by operator name and instance index. With the
// default namespace "brook" the metrics are:
//
//	brook_records_in_total                    counter  records an instance received
//	brook_records_out_total                   counter  records it emitted on its main output
//	brook_late_records_total                  counter  late records (past allowed lateness)
//	brook_errors_total                        counter  records rejected to a dead-letter output
//	brook_watermark_seconds                   gauge    input watermark, Unix seconds (+Inf at end of input)
//	brook_watermark_lag_seconds               gauge    clock now minus the watermark, computed at scrape time
//	brook_exchange_queue_batches              gauge    batches waiting in an exchange-fed instance's input
//	brook_exchange_queue_capacity_batches     gauge    that input's capacity
//	brook_checkpoint_alignment_seconds        gauge    how long the last barrier took to align over its inputs
//	brook_checkpoint_alignment_seconds_total  counter  time spent aligning barriers, inputs held back
//
// With checkpoints ([stream.WithCheckpoints]) there are also these series,
// with no operator labels:
//
//	brook_checkpoints_completed_total         counter  checkpoints stored and committed
//	brook_checkpoints_failed_total            counter  checkpoints that could not be stored or committed
//	brook_checkpoint_last_duration_seconds    gauge    the last completed checkpoint, trigger to commit
//	brook_checkpoint_last_size_bytes          gauge    its bytes of state
//	brook_checkpoint_last_id                  gauge    its id
//	brook_checkpoint_last_age_seconds         gauge    clock now minus its completion, computed at scrape time
//
// A checkpoint age that keeps growing past the checkpoint interval is a
// stalled checkpoint; alert on it rather than on the counters.
//
// The runtime reports counts in increments per batch, so the counters lag a
// running pipeline by at most a batch per instance and are exact once Run
// has returned. The watermark lag and the checkpoint age use the injected
// [Clock] (give it the pipeline's clock), so tests with a fake clock see
// exact values.
package prom
