package stream_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/brook-streams/brook/sketch"
	"github.com/brook-streams/brook/stream"
)

// The scaling job: 2M records of 1,000 keys, each key keeping a
// HyperLogLog of user ids and a quantile sketch of values; CPU-bound per
// record, so two keyed instances on two cores should do close to twice
// the work of one.
const (
	scalingN    = 2_000_000
	scalingKeys = 1_000
)

type scalingEvent struct {
	Key   int
	User  uint64
	Value float64
}

func scalingRecord(i int64) stream.Record[scalingEvent] {
	x := uint64(i) * 0x9e3779b97f4a7c15
	return stream.Record[scalingEvent]{Time: stream.Time(i), Value: scalingEvent{
		Key:   int(x>>40) % scalingKeys,
		User:  x >> 20 & 0xfffff,
		Value: 1 + float64(x>>11&0xffff),
	}}
}

// keyStats is one key's sketches.
type keyStats struct {
	users  *sketch.HLL
	values *sketch.Quantiles
}

func newKeyStats() *keyStats {
	h, err := sketch.NewHLL()
	if err != nil {
		panic(err)
	}
	q, err := sketch.NewQuantiles()
	if err != nil {
		panic(err)
	}
	return &keyStats{users: h, values: q}
}

func (s *keyStats) add(e scalingEvent) error {
	s.users.AddUint64(e.User)
	return s.values.Add(e.Value)
}

// keyResult is what the job emits per key at the end: its distinct users
// and median value.
type keyResult struct {
	Key    int
	Users  uint64
	Median float64
}

// scalingOp keeps the sketches of its instance's keys and emits them when
// the input ends.
type scalingOp struct{ keys map[int]*keyStats }

func (o *scalingOp) ProcessRecord(r stream.Record[scalingEvent], _ stream.Emitter[keyResult]) error {
	s := o.keys[r.Value.Key]
	if s == nil {
		s = newKeyStats()
		o.keys[r.Value.Key] = s
	}
	return s.add(r.Value)
}

func (o *scalingOp) ProcessWatermark(w stream.Time, out stream.Emitter[keyResult]) error {
	if w != stream.MaxTime {
		return nil
	}
	for k, s := range o.keys {
		m, err := s.values.Quantile(0.5)
		if err != nil {
			return err
		}
		if err := out.Emit(stream.At(keyResult{Key: k, Users: s.users.Estimate(), Median: m}, w)); err != nil {
			return err
		}
	}
	return nil
}

// summary folds per-key results into one comparable figure.
type summary struct {
	keys   int
	users  uint64
	median float64
}

func (s *summary) add(r keyResult) {
	s.keys++
	s.users += r.Users
	s.median += r.Median
}

func (s summary) String() string {
	return fmt.Sprintf("%d keys, %d users, median sum %.6g", s.keys, s.users, s.median)
}

func (s summary) equal(o summary) bool {
	return s.keys == o.keys && s.users == o.users && math.Abs(s.median-o.median) <= 1e-9*math.Abs(s.median)
}

func runScaling(b *testing.B, parallelism int) summary {
	var got summary
	p := stream.New(stream.WithParallelism(parallelism))
	src := stream.From(p, stream.Generate(scalingN, scalingRecord))
	keyed := stream.KeyBy(src, func(e scalingEvent) int { return e.Key })
	res := stream.Apply(keyed.Stream, func() stream.Operator[scalingEvent, keyResult] {
		return &scalingOp{keys: map[int]*keyStats{}}
	}, stream.Name("sketches"))
	stream.To(res, stream.SinkFunc[keyResult](func(_ context.Context, r stream.Record[keyResult]) error {
		got.add(r.Value)
		return nil
	}))
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return got
}

// BenchmarkScaling runs the keyed sketch job at parallelism 1 and 2 beside
// the same work in a plain loop; parallelism 2 over parallelism 1 is the
// scaling on two cores. Every variant's per-key results must agree.
func BenchmarkScaling(b *testing.B) {
	var want summary
	{
		keys := map[int]*keyStats{}
		for i := range int64(scalingN) {
			e := scalingRecord(i).Value
			s := keys[e.Key]
			if s == nil {
				s = newKeyStats()
				keys[e.Key] = s
			}
			if err := s.add(e); err != nil {
				b.Fatal(err)
			}
		}
		for k, s := range keys {
			m, err := s.values.Quantile(0.5)
			if err != nil {
				b.Fatal(err)
			}
			want.add(keyResult{Key: k, Users: s.users.Estimate(), Median: m})
		}
	}
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		var got summary
		cpu0 := cpuTime()
		for b.Loop() {
			got = summary{}
			keys := map[int]*keyStats{}
			for i := range int64(scalingN) {
				e := scalingRecord(i).Value
				s := keys[e.Key]
				if s == nil {
					s = newKeyStats()
					keys[e.Key] = s
				}
				if err := s.add(e); err != nil {
					b.Fatal(err)
				}
			}
			for k, s := range keys {
				m, err := s.values.Quantile(0.5)
				if err != nil {
					b.Fatal(err)
				}
				got.add(keyResult{Key: k, Users: s.users.Estimate(), Median: m})
			}
		}
		if !got.equal(want) {
			b.Fatalf("got %v, want %v", got, want)
		}
		reportEvents(b, scalingN, cpu0)
	})
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("brook/parallelism=%d", par), func(b *testing.B) {
			b.ReportAllocs()
			var got summary
			cpu0 := cpuTime()
			for b.Loop() {
				got = runScaling(b, par)
			}
			if !got.equal(want) {
				b.Fatalf("got %v, want %v", got, want)
			}
			reportEvents(b, scalingN, cpu0)
		})
	}
}
