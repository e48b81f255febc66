package kafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/brook-streams/brook/window"
)

const (
	distRecords    = 300_000
	distPartitions = 6
	distPages      = 50
	distWindow     = 10 * time.Second
)

// distClick is the benchmark's record: a page view, 12 bytes on the wire
// (page, unix milliseconds), keyed by page.
type distClick struct {
	Page uint32
	TS   int64
}

func (c distClick) at() time.Time { return time.UnixMilli(c.TS) }

func decodeDistClick(r *kgo.Record) (distClick, error) {
	if len(r.Value) != 12 {
		return distClick{}, errors.New("not a click")
	}
	return distClick{Page: binary.BigEndian.Uint32(r.Value), TS: int64(binary.BigEndian.Uint64(r.Value[4:]))}, nil
}

// distAnswer is what a run computed: fired (page, window) rows, their
// counts summed, and late clicks.
type distAnswer struct {
	rows, counted, late atomic.Int64
	ended               atomic.Int64 // tasks (partitions) that saw the final watermark
}

// partitionEnded counts a partition whose windows have all fired.
func (a *distAnswer) partitionEnded() { a.ended.Add(1) }

func (a *distAnswer) same(b *distAnswer) bool {
	return a.rows.Load() == b.rows.Load() && a.counted.Load() == b.counted.Load() && a.late.Load() == b.late.Load()
}

func (a *distAnswer) String() string {
	return fmt.Sprintf("%d rows counting %d clicks, %d late", a.rows.Load(), a.counted.Load(), a.late.Load())
}

// BenchmarkDistributed: per-page counts in tumbling 10s windows over a
// 6-partition kfake topic of 300,000 clicks written by a brook pipeline
// with CarryWatermarks (out of order within 1.5s, 1 in 50 far behind:
// late), by 1, 2 and 3 workers in this process sharing one consumer group.
// brook: each worker is a kafka.Group (a task per partition: source with
// carried watermarks, KeyBy, window.Aggregate, checkpointed every second
// into a directory task store), from the start until every partition's
// final watermark has fired its windows. Baseline, in the same run: the
// same number of bare kgo clients, each a hand-written loop over a fixed
// share of the partitions doing the same work per partition (carried
// watermark from the header, lateness, counts per page and window, firing
// as the watermark passes), without a consumer group or checkpoints. Both must give the same rows, counts and late
// clicks as a brute-force pass. events/s is over each iteration, from
// starting the workers to the last partition's windows fired: for brook
// that includes joining the group, the rebalances as the other workers
// join (tasks stop with a savepoint and restore elsewhere) and a client per
// task; the baseline has none of these. The machine has 2 cores, shared by
// kfake and the workers.
func BenchmarkDistributed(b *testing.B) {
	_, addr := cluster(b, distPartitions, "clicks")
	want := writeDistClicks(b, addr)

	for workers := 1; workers <= 3; workers++ {
		b.Run(fmt.Sprintf("workers=%d/handwritten-kgo", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := handwrittenDist(b, addr, workers)
				if !got.same(want) {
					b.Fatalf("handwritten: %v, want %v", got, want)
				}
			}
			b.ReportMetric(distRecords*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(fmt.Sprintf("workers=%d/brook", workers), func(b *testing.B) {
			b.ReportAllocs()
			run := 0
			for b.Loop() {
				run++
				got := brookDist(b, addr, fmt.Sprintf("brook-%d-%d", workers, run), workers)
				if !got.same(want) {
					b.Fatalf("brook: %v, want %v", got, want)
				}
			}
			b.ReportMetric(distRecords*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// writeDistClicks writes the input with a carrying sink and returns the
// brute-force answer: the watermark in force before each click decides
// lateness (allowed lateness 0), every window fires at the end.
func writeDistClicks(b *testing.B, addr string) *distAnswer {
	rng := rand.New(rand.NewPCG(3, 4))
	clicks := make([]distClick, distRecords)
	for i := range clicks {
		ts := int64(1_000_000 + i*3)
		if i%50 == 0 {
			ts -= 30_000
		} else {
			ts += rng.Int64N(1500)
		}
		clicks[i] = distClick{Page: uint32(rng.IntN(distPages)), TS: ts}
	}
	p := stream.New()
	src := stream.From(p, stream.Slice(clicks), stream.WithTimestamps(distClick.at),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[distClick](time.Second)))
	stream.To(src, kafka.NewSink("clicks", func(c distClick) ([]byte, error) {
		v := binary.BigEndian.AppendUint32(make([]byte, 0, 12), c.Page)
		return binary.BigEndian.AppendUint64(v, uint64(c.TS)), nil
	}, kafka.Brokers(addr), kafka.CarryWatermarks(), kafka.Key(func(c distClick) []byte { return strconv.AppendUint(nil, uint64(c.Page), 10) })))
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	want := &distAnswer{}
	rows := map[[2]int64]bool{}
	wm, maxSeen := int64(stream.MinTime), int64(stream.MinTime)
	size := distWindow.Milliseconds()
	for _, c := range clicks {
		start := c.TS - c.TS%size
		if wm >= (start+size)*int64(time.Millisecond)-1 {
			want.late.Add(1)
		} else {
			rows[[2]int64{int64(c.Page), start}] = true
			want.counted.Add(1)
		}
		if t := c.at().UnixNano(); t > maxSeen {
			maxSeen, wm = t, t-int64(time.Second)-1
		}
	}
	want.rows.Store(int64(len(rows)))
	return want
}

// brookDist runs the job as workers kafka.Groups until every partition's
// windows have fired.
func brookDist(b *testing.B, addr, group string, workers int) *distAnswer {
	got := &distAnswer{}
	store, err := kafka.NewDirTaskStore(b.TempDir(), 2)
	if err != nil {
		b.Fatal(err)
	}
	build := func(t *kafka.Task[distClick]) error {
		clicks := kafka.Decode(t.Input).Stream
		win := window.Aggregate(stream.KeyBy(clicks, func(c distClick) uint32 { return c.Page }),
			window.Tumbling(distWindow), window.Count[distClick](), stream.Name("counts"))
		stream.To(win.Results(), &distResults{a: got}, stream.Name("rows"))
		stream.To(win.Late(), stream.SinkFunc[window.LateRecord[distClick]](func(context.Context, stream.Record[window.LateRecord[distClick]]) error {
			got.late.Add(1)
			return nil
		}))
		return nil
	}
	var wg sync.WaitGroup
	groups := make([]*kafka.Group[distClick], workers)
	errs := make([]error, workers)
	for i := range groups {
		groups[i] = kafka.NewGroup(group, "clicks", decodeDistClick, store, build,
			kafka.SourceOptions(kafka.Brokers(addr), kafka.CarryWatermarks()),
			kafka.GroupClientOptions(kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(100*time.Millisecond)),
			kafka.CheckpointInterval(time.Second))
		wg.Go(func() { errs[i] = groups[i].Run(context.Background()) })
	}
	deadline := time.Now().Add(2 * time.Minute)
	for got.ended.Load() < distPartitions {
		if time.Now().After(deadline) {
			b.Fatalf("brook: %d of %d partitions done", got.ended.Load(), distPartitions)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	for _, g := range groups {
		g.Stop()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer()
	return got
}

// distResults counts the window rows and the tasks whose final watermark
// has come.
type distResults struct{ a *distAnswer }

func (s *distResults) Write(_ context.Context, r stream.Record[window.Result[uint32, int64]]) error {
	s.a.rows.Add(1)
	s.a.counted.Add(r.Value.Value)
	return nil
}

func (s *distResults) WriteWatermark(_ context.Context, w stream.Time) error {
	if w == stream.MaxTime {
		s.a.partitionEnded()
	}
	return nil
}

// handwrittenDist runs the job as workers bare kgo consumers, each a loop
// over a fixed share of the partitions (partition p goes to worker p mod
// workers: no group, so no rebalance to hand state over in), keeping per
// partition the carried watermark and the open windows' counts per page.
func handwrittenDist(b *testing.B, addr string, workers int) *distAnswer {
	got := &distAnswer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		share := map[int32]kgo.Offset{}
		for p := int32(w); p < distPartitions; p += int32(workers) {
			share[p] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"clicks": share}))
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer cl.Close()
			parts := map[int32]*hwPartition{}
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) {
					st := parts[r.Partition]
					if st == nil {
						st = &hwPartition{wm: int64(stream.MinTime), open: map[int64]map[uint32]int64{}}
						parts[r.Partition] = st
					}
					st.handle(r, got)
				})
			}
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for got.ended.Load() < distPartitions {
		if time.Now().After(deadline) {
			b.Fatalf("handwritten: %d of %d partitions done", got.ended.Load(), distPartitions)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	b.StartTimer()
	return got
}

// hwPartition is the hand-written loop's state of one partition.
type hwPartition struct {
	wm   int64
	open map[int64]map[uint32]int64 // window start (ms) -> page -> count
	done bool
}

func (p *hwPartition) handle(r *kgo.Record, got *distAnswer) {
	wm, only := int64(stream.MinTime), false
	for _, h := range r.Headers {
		switch h.Key {
		case kafka.WatermarkHeader:
			wm, _ = strconv.ParseInt(string(h.Value), 10, 64)
		case kafka.WatermarkOnlyHeader:
			only = true
		}
	}
	if wm > p.wm {
		p.wm = wm
		p.fire(got)
	}
	if only {
		if !p.done && wm == int64(stream.MaxTime) {
			p.done = true
			got.partitionEnded()
		}
		return
	}
	c, err := decodeDistClick(r)
	if err != nil {
		return
	}
	size := distWindow.Milliseconds()
	start := c.TS - c.TS%size
	if p.wm >= (start+size)*int64(time.Millisecond)-1 {
		got.late.Add(1)
		return
	}
	w := p.open[start]
	if w == nil {
		w = map[uint32]int64{}
		p.open[start] = w
	}
	w[c.Page]++
}

// fire emits and drops the windows the watermark has passed.
func (p *hwPartition) fire(got *distAnswer) {
	size := distWindow.Milliseconds()
	for start, w := range p.open {
		if p.wm >= (start+size)*int64(time.Millisecond)-1 {
			for _, n := range w {
				got.rows.Add(1)
				got.counted.Add(n)
			}
			delete(p.open, start)
		}
	}
}
