package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

const benchLines = 100_000

var benchInput = func() []byte {
	var b bytes.Buffer
	for i := range benchLines {
		fmt.Fprintf(&b, `{"user":"user-%d","track":%d,"ts":%d}`+"\n", i%977, i%101, 1_700_000_000+i)
	}
	return b.Bytes()
}()

func unmarshalPlay(b []byte) (play, error) {
	var p play
	err := json.Unmarshal(b, &p)
	return p, err
}

// BenchmarkSource: 100,000 JSON lines (~50 bytes) decoded with
// json.Unmarshal; the handwritten baseline is a bufio.Scanner loop.
func BenchmarkSource(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchInput)))
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(benchInput))
			n := 0
			for sc.Scan() {
				p, err := unmarshalPlay(sc.Bytes())
				if err != nil {
					b.Fatal(err)
				}
				n += p.Track
			}
			if sc.Err() != nil {
				b.Fatal(sc.Err())
			}
		}
		b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("jsonl", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchInput)))
		for b.Loop() {
			p := stream.New()
			d := jsonl.Decode(stream.From(p, jsonl.Reader(bytes.NewReader(benchInput), unmarshalPlay,
				jsonl.EventTime(play.At))))
			n := 0
			stream.To(d.Stream, stream.SinkFunc[play](func(_ context.Context, r stream.Record[play]) error {
				n++
				return nil
			}))
			stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[jsonl.Line[play]]]())
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			if n != benchLines {
				b.Fatalf("%d records", n)
			}
		}
		b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkWriter: 100,000 values written as JSON Lines to memory; the
// baseline is a json.Encoder on a bufio.Writer.
func BenchmarkWriter(b *testing.B) {
	vals := make([]play, benchLines)
	for i := range vals {
		vals[i] = play{User: fmt.Sprintf("user-%d", i%977), Track: i % 101, TS: int64(i)}
	}
	var buf bytes.Buffer
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			bw := bufio.NewWriterSize(&buf, 64<<10)
			enc := json.NewEncoder(bw)
			for _, v := range vals {
				if err := enc.Encode(v); err != nil {
					b.Fatal(err)
				}
			}
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("jsonl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			p := stream.New()
			stream.To(stream.From(p, stream.Slice(vals)), jsonl.NewWriter[play](&buf))
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
