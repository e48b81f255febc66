package stream_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/brook-streams/brook/stream"
)

func Example() {
	p := stream.New()
	nums := stream.From(p, stream.Slice([]int{1, 2, 3, 4, 5}))
	odd := stream.Filter(nums, func(n int) bool { return n%2 == 1 })
	tens := stream.Map(odd, func(n int) int { return n * 10 })
	out := stream.Collect[int]()
	stream.To(tens, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(out.Values())
	// Output: [10 30 50]
}

func ExampleKeyBy() {
	plays := []play{{"a", 10}, {"b", 20}, {"a", 30}, {"c", 5}, {"b", 1}}
	p := stream.New()
	keyed := stream.KeyBy(stream.From(p, stream.Slice(plays)), func(v play) string { return v.track }, stream.Parallelism(3))
	// Each instance sums the plays of its own keys.
	totals := stream.Apply(keyed.Stream, func() stream.Operator[play, string] { return &summer{sums: map[string]int{}} }, stream.Name("sum"))
	out := stream.Collect[string]()
	stream.To(totals, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	res := out.Values()
	sort.Strings(res)
	fmt.Println(res)
	// Output: [a=40 b=21 c=5]
}

type play struct {
	track string
	ms    int
}

type summer struct{ sums map[string]int }

func (s *summer) ProcessRecord(r stream.Record[play], _ stream.Emitter[string]) error {
	s.sums[r.Value.track] += r.Value.ms
	return nil
}

func (s *summer) ProcessWatermark(w stream.Time, out stream.Emitter[string]) error {
	if w != stream.MaxTime {
		return nil
	}
	for k, v := range s.sums {
		if err := out.Emit(stream.At(fmt.Sprintf("%s=%d", k, v), w)); err != nil {
			return err
		}
	}
	return nil
}

func ExampleProcess() {
	p := stream.New()
	lines := stream.From(p, stream.Slice([]string{"12", "x", "7"}))
	parsed := stream.Process(lines, func(_ *stream.Context, r stream.Record[string], out stream.Emitter[int]) error {
		var n int
		if _, err := fmt.Sscan(r.Value, &n); err != nil {
			return stream.Rejectf("not a number: %q", r.Value)
		}
		return out.Emit(stream.At(n, r.Time))
	}, stream.Name("parse"))
	good, bad := stream.Collect[int](), stream.Collect[stream.DeadLetter[string]]()
	stream.To(parsed.Stream, good)
	stream.To(parsed.DeadLetters(), bad)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(good.Values())
	for _, d := range bad.Values() {
		fmt.Println(d.Operator, d.Err)
	}
	// Output:
	// [12 7]
	// parse not a number: "x"
}

func ExampleBoundedOutOfOrderness() {
	base := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	evs := []ev{{base.Add(10 * time.Second)}, {base.Add(7 * time.Second)}, {base.Add(20 * time.Second)}}
	p := stream.New()
	s := stream.From(p, stream.Slice(evs),
		stream.WithTimestamps(func(e ev) time.Time { return e.at }),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](5*time.Second)))
	stream.To(s, printWatermarks{})
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// watermark 2026-11-27T18:00:04.999999999Z
	// watermark 2026-11-27T18:00:14.999999999Z
	// watermark +inf
}

type ev struct{ at time.Time }

type printWatermarks struct{}

func (printWatermarks) Write(context.Context, stream.Record[ev]) error {
	return nil
}

func (printWatermarks) WriteWatermark(_ context.Context, w stream.Time) error {
	fmt.Println("watermark", w)
	return nil
}

func ExampleAsync() {
	// A service that answers slowly; Async keeps up to 10 calls in flight and
	// emits the answers in input order.
	lookup := func(ctx context.Context, id int) (string, error) {
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if id < 0 {
			return "", stream.Rejectf("negative id %d", id)
		}
		return fmt.Sprintf("user-%d", id), nil
	}
	p := stream.New()
	ids := stream.From(p, stream.Slice([]int{3, 1, -4, 1, 5}))
	users := stream.Async(ids, lookup, stream.MaxInFlight(10), stream.RequestTimeout(time.Second))
	out := stream.Collect[string]()
	stream.To(users.Stream, out)
	bad := stream.Collect[stream.DeadLetter[int]]()
	stream.To(users.DeadLetters(), bad)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(out.Values())
	for _, d := range bad.Values() {
		fmt.Println(d.Record.Value, d.Err)
	}
	// Output:
	// [user-3 user-1 user-1 user-5]
	// -4 negative id -4
}

func ExampleProcessKeyedBroadcast() {
	type Payment struct {
		Country string
		Cents   int
	}
	type Limit struct {
		Country string
		Cents   int
	}
	p := stream.New(stream.WithParallelism(3))
	// The limits are sent before the payments start, so the output does not
	// depend on how the two inputs interleave.
	sent := make(chan struct{})
	limits := stream.From(p, stream.SourceFunc[Limit](func(_ context.Context, out stream.SourceOutput[Limit]) error {
		defer close(sent)
		for _, l := range []Limit{{"DE", 1000}, {"FR", 500}} {
			if err := out.Emit(stream.At(l, 0)); err != nil {
				return err
			}
		}
		return out.Flush()
	}))
	payments := stream.From(p, stream.SourceFunc[Payment](func(ctx context.Context, out stream.SourceOutput[Payment]) error {
		if err := out.Await(func() error {
			select {
			case <-sent:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}); err != nil {
			return err
		}
		for i, pm := range []Payment{{"DE", 700}, {"FR", 700}, {"IT", 10}, {"DE", 1200}} {
			if err := out.Emit(stream.At(pm, stream.Time(i+1))); err != nil {
				return err
			}
		}
		return nil
	}))
	// Every instance gets every limit; each payment goes to the instance of
	// its country and is checked against the limits it has.
	alerts := stream.ProcessKeyedBroadcast(payments, func(pm Payment) string { return pm.Country }, limits,
		func(_ *stream.Context, country string, r stream.Record[Payment], limits stream.BroadcastView[string, int], out stream.Emitter[string]) error {
			limit, ok := limits.Get(country)
			switch {
			case !ok:
				return out.Emit(stream.At(fmt.Sprintf("%d cents in %s: no limit", r.Value.Cents, country), r.Time))
			case r.Value.Cents > limit:
				return out.Emit(stream.At(fmt.Sprintf("%d cents in %s: over %d", r.Value.Cents, country, limit), r.Time))
			}
			return nil
		},
		func(_ *stream.Context, r stream.Record[Limit], limits *stream.BroadcastState[string, int], _ stream.Emitter[string]) error {
			limits.Put(r.Value.Country, r.Value.Cents)
			return nil
		})
	out := stream.Collect[string]()
	stream.To(alerts.Stream, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	res := out.Values()
	sort.Strings(res)
	for _, a := range res {
		fmt.Println(a)
	}
	// Output:
	// 10 cents in IT: no limit
	// 1200 cents in DE: over 1000
	// 700 cents in FR: over 500
}

// The batch forms of Map, Filter and a sink: each function gets a batch of
// records and runs its own loop over it.
func ExampleMapBatch() {
	p := stream.New()
	nums := stream.From(p, stream.Slice([]int{1, 2, 3, 4, 5}))
	odd := stream.FilterBatch(nums, func(rs []stream.Record[int]) []stream.Record[int] {
		k := 0
		for _, r := range rs {
			if r.Value%2 == 1 {
				rs[k] = r
				k++
			}
		}
		return rs[:k]
	})
	// Each odd number n becomes n*10 and n*10+1, at n's time.
	tens := stream.MapBatch(odd, func(in []stream.Record[int], out []stream.Record[int]) []stream.Record[int] {
		for _, r := range in {
			out = append(out, stream.At(r.Value*10, r.Time), stream.At(r.Value*10+1, r.Time))
		}
		return out
	})
	total := 0
	stream.To(tens, stream.SinkBatch[int](func(_ context.Context, rs []stream.Record[int]) error {
		for _, r := range rs {
			total += r.Value
		}
		return nil
	}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(total)
	// Output: 183
}
