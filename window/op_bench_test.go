package window

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
)

type nopEmitter[T any] struct{ n int }

func (e *nopEmitter[T]) Emit(stream.Record[T]) error { e.n++; return nil }

type benchPlay struct {
	Track int
	User  int64
}

// BenchmarkOperator measures the window operator alone, without the
// runtime: records and a watermark per record, as BoundedOutOfOrderness(0)
// produces on an in-order stream.
func BenchmarkOperator(b *testing.B) {
	const n = 1_000_000
	recs := make([]stream.Record[benchPlay], n)
	for i := range recs {
		recs[i] = stream.Record[benchPlay]{Time: stream.Time(int64(i) * int64(6*time.Millisecond)), Value: benchPlay{Track: i * 7 % 10}}
	}
	many := make([]stream.Record[benchPlay], n)
	for i := range many {
		// 100,000 keys, 200,000 records a minute: as BenchmarkTumblingCount/keys=100000.
		many[i] = stream.Record[benchPlay]{Time: stream.Time(int64(i) * int64(300*time.Microsecond)), Value: benchPlay{Track: i * 7 % 100_000}}
	}
	users := make([]stream.Record[benchPlay], 0, n)
	for i := int64(0); len(users) < n; i++ {
		t := i * int64(3*time.Millisecond)
		u := i * 7919 % 5000
		if (t/int64(5*time.Minute))%2 != u%2 {
			continue
		}
		users = append(users, stream.Record[benchPlay]{Time: stream.Time(t), Value: benchPlay{Track: int(u)}})
	}
	for _, bc := range []struct {
		a    Assigner
		recs []stream.Record[benchPlay]
		name string
	}{
		{Tumbling(time.Minute), recs, "tumbling-10-keys"},
		{Tumbling(time.Minute), many, "tumbling-100k-keys"},
		{Sliding(10*time.Second, 2*time.Second), recs, "sliding-10-keys"},
		{Session(time.Minute), recs, "session-10-keys"},
		{Session(time.Minute), users, "session-5000-keys"},
	} {
		a, recs := bc.a, bc.recs
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				o := &op[int, benchPlay, int64, int64]{a: a, key: func(p benchPlay) int { return p.Track }}
				agg := Count[benchPlay]()
				o.agg, o.newAcc, o.merge = agg, agg.New, agg.Merge
				o.result = func(_ int, _ Span, acc int64) int64 { return acc }
				o.init()
				out := &nopEmitter[Result[int, int64]]{}
				for _, r := range recs {
					if err := o.ProcessRecord(r, out); err != nil {
						b.Fatal(err)
					}
					if err := o.ProcessWatermark(r.Time-1, out); err != nil {
						b.Fatal(err)
					}
				}
				if err := o.ProcessWatermark(stream.MaxTime, out); err != nil {
					b.Fatal(err)
				}
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(b.Elapsed().Seconds()*1e9/(float64(n)*float64(b.N)), "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/(float64(n)*float64(b.N)), "cpu-ns/event")
		})
	}
}

// BenchmarkSnapshot measures a checkpoint of the window operator holding 1 M
// open keys (one tumbling window, a count each): the time to Snapshot and to
// Restore, and the bytes of the state.
func BenchmarkSnapshot(b *testing.B) {
	const keys = 1_000_000
	mk := func() *op[int, benchPlay, int64, int64] {
		o := &op[int, benchPlay, int64, int64]{a: Tumbling(time.Hour), key: func(p benchPlay) int { return p.Track }}
		agg := Count[benchPlay]()
		o.agg, o.newAcc, o.merge = agg, agg.New, agg.Merge
		o.result = func(_ int, _ Span, acc int64) int64 { return acc }
		o.init()
		return o
	}
	o := mk()
	out := &nopEmitter[Result[int, int64]]{}
	for k := range keys {
		if err := o.ProcessRecord(stream.Record[benchPlay]{Time: stream.Time(k), Value: benchPlay{Track: k}}, out); err != nil {
			b.Fatal(err)
		}
	}
	state, err := o.snapshotAll()
	if err != nil {
		b.Fatal(err)
	}
	// The baseline: the same million (key, count) pairs held in a plain map
	// and written as varints by hand.
	plain := make(map[int]int64, keys)
	for k := range keys {
		plain[k] = 1
	}
	b.Run("hand-written-1M-keys", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = buf[:0]
			for k, v := range plain {
				buf = binary.AppendVarint(binary.AppendVarint(buf, int64(k)), v)
			}
		}
		b.ReportMetric(float64(len(buf)), "state-bytes")
	})
	b.Run("snapshot-1M-keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := o.snapshotAll(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(state)), "state-bytes")
	})
	b.Run("restore-1M-keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := mk().restoreAll(state); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(state)), "state-bytes")
	})
}
