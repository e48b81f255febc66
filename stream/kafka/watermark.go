package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
)

// This file carries watermarks through Kafka: a sink with CarryWatermarks
// stamps every record with the watermark in force before it, and a source
// with CarryWatermarks emits that watermark before the record (see the
// package documentation, "Watermarks carried through Kafka").

// WatermarkHeader is the header in which a sink with [CarryWatermarks]
// writes, on every record, the pipeline's watermark in force before that
// record: nanoseconds since the Unix epoch in decimal ASCII, "-9223372036854775808"
// (stream.MinTime) before the first watermark.
const WatermarkHeader = "brook-wm"

// WatermarkOnlyHeader marks a record that carries a watermark and no data
// (its value is empty, it has no key): a sink with [CarryWatermarks] writes
// one to every partition of its topic when the final watermark
// (stream.MaxTime, the end of its input) arrives, so that every downstream
// partition learns that the input has ended. A source with
// [CarryWatermarks] takes its watermark and emits no [Message] for it.
const WatermarkOnlyHeader = "brook-wm-only"

// ErrNoWatermark is wrapped by the [DecodeError] of a record that a source
// with [CarryWatermarks] read without a valid [WatermarkHeader]: it was not
// written by a sink that carries watermarks. The record becomes a dead
// letter and does not move the partition's watermark.
var ErrNoWatermark = errors.New("kafka: record without a valid " + WatermarkHeader + " watermark header")

// CarryWatermarks makes watermarks travel through Kafka with the records,
// so that a pipeline reading a topic sees the event time of the pipeline
// that wrote it (see the package documentation).
//
// On a [Sink] or [TransactionalSink]: every record carries the watermark
// in force before it in the [WatermarkHeader], and the final watermark
// (the end of the sink's input) is written to every partition of the topic
// as a watermark-only record ([WatermarkOnlyHeader]). The sink places the
// records itself: a record with a key goes to the partition of the key's
// murmur2 hash (as Kafka's default partitioner does), one without a key
// round robin, a watermark-only record to its partition; a
// kgo.RecordPartitioner in [ClientOptions] does not apply, and neither
// does [Client] (the sink needs a client of its own).
//
// On a [Source] (and so on a [Group]'s tasks): instead of generating
// watermarks ([OutOfOrderness] does not apply), the source keeps each
// partition's watermark as the largest [WatermarkHeader] read from it, and
// before emitting a record it emits the minimum over the partitions it
// reads (leaving out idle ones, as for generated watermarks) if that has
// grown. A record without a valid header is a dead letter
// ([ErrNoWatermark]).
func CarryWatermarks() Option {
	return bothOption{
		src:  func(c *sourceConfig) { c.carry = true },
		sink: func(c *sinkConfig) { c.carry = true },
	}
}

// recordWatermark returns the watermark a record carries, whether it is a
// watermark-only record, and whether it has a valid header at all.
func recordWatermark(r *kgo.Record) (w stream.Time, only, ok bool) {
	for i := range r.Headers {
		h := &r.Headers[i]
		switch h.Key {
		case WatermarkHeader:
			if ok {
				return 0, false, false // two stamps: not ours
			}
			v, valid := parseInt64(h.Value)
			if !valid {
				return 0, false, false
			}
			w, ok = stream.Time(v), true
		case WatermarkOnlyHeader:
			only = true
		}
	}
	return w, only && ok, ok
}

// parseInt64 parses a decimal int64 without allocating.
func parseInt64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (1<<64-1)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= 1<<63-1:
		return int64(u), true
	case neg && u <= 1<<63:
		return int64(-u), true // two's complement: -(1<<63) is MinInt64
	}
	return 0, false
}

// watermarkHeader returns the header stamping w.
func watermarkHeader(w stream.Time) kgo.RecordHeader {
	return kgo.RecordHeader{Key: WatermarkHeader, Value: strconv.AppendInt(make([]byte, 0, 20), int64(w), 10)}
}

// carrier is the part of a sink that carries watermarks: the watermark in
// force, and the placement of records.
type carrier struct {
	wm    stream.Time
	ended bool // the final watermark's records are written
}

// stamp adds the watermark header to rec (never into the backing array
// of headers the user's function returned).
func (c *carrier) stamp(rec *kgo.Record) {
	rec.Headers = append(rec.Headers[:len(rec.Headers):len(rec.Headers)], watermarkHeader(c.wm))
}

// final returns the watermark-only records of the final watermark, one per
// partition of topic, or nil if they have been written already.
func (c *carrier) final(ctx context.Context, cl *kgo.Client, topic string) ([]*kgo.Record, error) {
	if c.ended {
		return nil, nil
	}
	c.ended = true
	n, err := topicPartitions(ctx, cl, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: final watermark: %w", err)
	}
	recs := make([]*kgo.Record, n)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: topic, Partition: int32(p), Headers: []kgo.RecordHeader{
			watermarkHeader(stream.MaxTime), {Key: WatermarkOnlyHeader}}}
	}
	return recs, nil
}

// carryPartitioner places the records of a sink that carries watermarks: a
// watermark-only record on the partition it names, a keyed record by the
// murmur2 hash of its key (Kafka's default), others round robin.
type carryPartitioner struct{}

func (carryPartitioner) ForTopic(string) kgo.TopicPartitioner {
	return &carryTopicPartitioner{keyed: kgo.StickyKeyPartitioner(nil).ForTopic("")}
}

type carryTopicPartitioner struct {
	keyed kgo.TopicPartitioner
	next  atomic.Uint64
}

func (*carryTopicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p *carryTopicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case r.Key != nil:
		return p.keyed.Partition(r, n)
	case isWatermarkOnly(r):
		return int(r.Partition)
	}
	return int((p.next.Add(1) - 1) % uint64(n))
}

func isWatermarkOnly(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == WatermarkOnlyHeader {
			return true
		}
	}
	return false
}

// carryClientOpts are the client options a carrying sink adds.
func carryClientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.RecordPartitioner(carryPartitioner{})}
}
