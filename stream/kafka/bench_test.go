package kafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

const (
	benchRecords    = 100_000
	benchPartitions = 4
)

// benchValue is a 64-byte payload whose first 8 bytes are the sequence
// number; decoding reads it back, so the figures measure the connector and
// the broker rather than a JSON library.
func benchValue(i int) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

func decodeSeq(r *kgo.Record) (uint64, error) {
	if len(r.Value) < 8 {
		return 0, errors.New("short")
	}
	return binary.BigEndian.Uint64(r.Value), nil
}

func allPartitions() map[int32]kgo.Offset {
	m := map[int32]kgo.Offset{}
	for p := range int32(benchPartitions) {
		m[p] = kgo.NewOffset().AtStart()
	}
	return m
}

// BenchmarkSource: consume 100,000 records of 64 bytes from 4 partitions of
// an in-process kfake broker. The baseline polls them with a bare kgo client.
func BenchmarkSource(b *testing.B) {
	_, addr := cluster(b, benchPartitions, "bench")
	cl := client(b, addr)
	recs := make([]*kgo.Record, benchRecords)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "bench", Key: fmt.Appendf(nil, "k%d", i%100), Value: benchValue(i)}
	}
	produce(b, cl, recs...)

	b.Run("handwritten-kgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := client(b, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": allPartitions()}))
			var n int
			var sum uint64
			for n < benchRecords {
				f := c.PollFetches(context.Background())
				if err := f.Err0(); err != nil {
					b.Fatal(err)
				}
				f.EachRecord(func(r *kgo.Record) {
					v, _ := decodeSeq(r)
					sum += v
					n++
				})
			}
			c.Close()
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("brook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithCancel(context.Background())
			p := stream.New()
			d := kafka.Decode(stream.From(p, kafka.NewSource(decodeSeq, kafka.Brokers(addr),
				kafka.Partitions("bench", allPartitions()))))
			var n int
			var sum uint64
			stream.To(d.Stream, stream.SinkFunc[uint64](func(_ context.Context, r stream.Record[uint64]) error {
				sum += r.Value
				if n++; n == benchRecords {
					cancel()
				}
				return nil
			}))
			stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[kafka.Message[uint64]]]())
			if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
				b.Fatal(err)
			}
			if n != benchRecords {
				b.Fatalf("%d records", n)
			}
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkSink: produce 100,000 keyed records of 64 bytes to 4 partitions
// of an in-process kfake broker and wait for every ack. The baseline is a
// bare kgo client's Produce with a promise, then Flush.
//
// The exactly-once comparison: 1,000,000 records through a pipeline with
// checkpoints every second (real clock, a DirStore), once into the
// at-least-once Sink (acks awaited at each barrier) and once into the
// TransactionalSink (a transaction per checkpoint interval, committed after
// the checkpoint is stored); both report events/s and the checkpoints per
// run, and check that every record reached the topic (committed, for the
// transactional one). The target: transactional >= 0.5x
// at-least-once.
func BenchmarkSink(b *testing.B) {
	_, addr := cluster(b, benchPartitions, "bench")
	keys := make([][]byte, 100)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%d", i)
	}
	vals := make([]uint64, benchRecords)
	for i := range vals {
		vals[i] = uint64(i)
	}
	encode := func(v uint64) ([]byte, error) { return benchValue(int(v)), nil }

	b.Run("handwritten-kgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := client(b, addr)
			var failed atomic.Int64
			promise := func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			for _, v := range vals {
				val, _ := encode(v)
				c.Produce(context.Background(), &kgo.Record{Topic: "bench", Key: keys[v%100], Value: val}, promise)
			}
			if err := c.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			if failed.Load() != 0 {
				b.Fatal("failed records")
			}
			c.Close()
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("brook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := stream.New()
			stream.To(stream.From(p, stream.Slice(vals)), kafka.NewSink("bench", encode, kafka.Brokers(addr),
				kafka.Key(func(v uint64) []byte { return keys[v%100] })))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})

	const ckptRecords = 1_000_000
	key := kafka.Key(func(v uint64) []byte { return keys[v%100] })
	checkpointed := func(b *testing.B, topic string, sink func() stream.Sink[uint64]) {
		b.ReportAllocs()
		lc := client(b, addr)
		var ckpts atomic.Int64
		for b.Loop() {
			dir, err := os.MkdirTemp(b.TempDir(), "ckpt")
			if err != nil {
				b.Fatal(err)
			}
			store, err := stream.NewDirStore(dir)
			if err != nil {
				b.Fatal(err)
			}
			before := endOffsets(b, lc, topic)
			p := stream.New(stream.WithCheckpoints(store, time.Second), stream.WithMetrics(&countCheckpoints{n: &ckpts}))
			src := stream.Generate(ckptRecords, func(i int64) stream.Record[uint64] { return stream.At(uint64(i), stream.Time(i)) })
			stream.To(stream.From(p, src), sink())
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			// Committed (read_committed end offsets) records: every one,
			// plus a commit marker per partition and transaction.
			if got := endOffsets(b, lc, topic) - before; got < ckptRecords {
				b.Fatalf("%d of %d records committed", got, ckptRecords)
			}
		}
		b.ReportMetric(float64(ckptRecords)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(ckpts.Load())/float64(b.N), "checkpoints/op")
	}
	b.Run("at-least-once-ckpt-1s", func(b *testing.B) {
		checkpointed(b, "bench", func() stream.Sink[uint64] { return kafka.NewSink("bench", encode, kafka.Brokers(addr), key) })
	})
	b.Run("transactional-ckpt-1s", func(b *testing.B) {
		checkpointed(b, "bench", func() stream.Sink[uint64] {
			return kafka.NewTransactionalSink("bench", encode, "bench-tx", kafka.Brokers(addr), key)
		})
	})
}

// countCheckpoints counts the completed checkpoints.
type countCheckpoints struct {
	stream.NopMetrics
	n *atomic.Int64
}

func (c *countCheckpoints) CheckpointCompleted(int64, time.Duration, int) { c.n.Add(1) }
func (c *countCheckpoints) CheckpointFailed(int64)                        {}

// endOffsets returns the sum of topic's read_committed end offsets (last
// stable offsets): records of open transactions are not counted.
func endOffsets(tb testing.TB, cl *kgo.Client, topic string) int64 {
	tb.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = 1 // read_committed
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(benchPartitions) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // the end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatal(err)
	}
	var sum int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				tb.Fatalf("list offsets %s/%d: error %d", t.Topic, p.Partition, p.ErrorCode)
			}
			sum += p.Offset
		}
	}
	return sum
}
