package kafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

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
}
