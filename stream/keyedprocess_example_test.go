package stream_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/stream"
)

// Per sensor, an alert when no reading came for 30 s of event time: each
// reading moves the sensor's deadline, an event-time timer, and the timer
// that fires raises the alert. A reading may reach the operator before the
// watermark that passes the previous deadline (watermarks follow the
// records they come from), so Process raises the alert for a deadline it
// finds passed. The end of the input fires the deadlines still pending.
func ExampleKeyedProcess() {
	type reading struct {
		sensor string
		at     int // seconds
	}
	readings := []reading{{"a", 0}, {"b", 5}, {"a", 20}, {"b", 40}, {"a", 90}, {"b", 95}}
	const timeout = 30 * time.Second
	alert := func(sensor string, deadline stream.Time, out stream.Emitter[string]) error {
		last := deadline.Add(-timeout).Std().Unix()
		return out.Emit(stream.At(fmt.Sprintf("%s silent since %ds", sensor, last), deadline))
	}

	p := stream.New()
	in := stream.From(p, stream.Slice(readings),
		stream.WithTimestamps(func(r reading) time.Time { return time.Unix(int64(r.at), 0) }),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[reading](0)))
	bySensor := stream.KeyBy(in, func(r reading) string { return r.sensor })
	silences := stream.KeyedProcess(bySensor, func(st *stream.KeyedStates) stream.KeyedFuncs[string, reading, string] {
		deadline := stream.NewValueState[stream.Time](st, "deadline")
		return stream.KeyedFuncs[string, reading, string]{
			Process: func(c *stream.KeyedContext[string], r stream.Record[reading], out stream.Emitter[string]) error {
				if d, ok := deadline.Value(); ok {
					c.DeleteEventTimer(d)
					if d <= r.Time {
						if err := alert(c.Key(), d, out); err != nil {
							return err
						}
					}
				}
				d := r.Time.Add(timeout)
				deadline.Update(d)
				c.RegisterEventTimer(d)
				return nil
			},
			OnTimer: func(c *stream.KeyedContext[string], t stream.Timer, out stream.Emitter[string]) error {
				deadline.Clear()
				return alert(c.Key(), t.Time, out)
			},
		}
	}, stream.Name("silence"))
	out := stream.Collect[string]()
	stream.To(silences, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	alerts := out.Records()
	// The sensors' instances run in parallel: order by the alerts' times.
	slices.SortFunc(alerts, func(x, y stream.Record[string]) int { return cmp.Compare(x.Time, y.Time) })
	for _, a := range alerts {
		fmt.Println(a.Value)
	}
	// Output:
	// b silent since 5s
	// a silent since 20s
	// b silent since 40s
	// a silent since 90s
	// b silent since 95s
}

// Per user, the number of clicks in the current visit: a visit ends after
// 10 minutes of event time without a click, and the count with it. The
// count's time to live does the forgetting; no timer is needed, and a user
// who never comes back costs no memory once the watermark passes the
// visit's end.
func ExampleStateTTL() {
	type click struct {
		user string
		min  int // minutes
	}
	clicks := []click{{"ann", 0}, {"bob", 1}, {"ann", 4}, {"ann", 13}, {"ann", 24}, {"ann", 25}, {"bob", 30}}

	p := stream.New()
	in := stream.From(p, stream.Slice(clicks),
		stream.WithTimestamps(func(c click) time.Time { return time.Unix(int64(c.min)*60, 0) }),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[click](0)))
	byUser := stream.KeyBy(in, func(c click) string { return c.user }, stream.Parallelism(1))
	visits := stream.KeyedProcess(byUser, func(st *stream.KeyedStates) stream.KeyedFuncs[string, click, string] {
		n := stream.NewValueState(st, "clicks", stream.StateTTL[int](stream.TTL{After: 10 * time.Minute}))
		return stream.KeyedFuncs[string, click, string]{
			Process: func(c *stream.KeyedContext[string], r stream.Record[click], out stream.Emitter[string]) error {
				k, _ := n.Value() // 0 once the last click is 10 minutes old
				n.Update(k + 1)
				return out.Emit(stream.At(fmt.Sprintf("%s at %dm: click %d of the visit", c.Key(), r.Value.min, k+1), r.Time))
			},
		}
	})
	out := stream.Collect[string]()
	stream.To(visits, out)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	for _, r := range out.Records() {
		fmt.Println(r.Value)
	}
	// Output:
	// ann at 0m: click 1 of the visit
	// bob at 1m: click 1 of the visit
	// ann at 4m: click 2 of the visit
	// ann at 13m: click 3 of the visit
	// ann at 24m: click 1 of the visit
	// ann at 25m: click 2 of the visit
	// bob at 30m: click 1 of the visit
}
