package window_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// Play is a listen of a track by a user.
type Play struct {
	Track string
	User  string
	Secs  int // seconds listened
}

var noon = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// noonPlus returns noon plus d as an event time.
func noonPlus(d time.Duration) stream.Time { return stream.TimeOf(noon.Add(d)) }

func clock(t stream.Time) string {
	if t == stream.MinTime || t == stream.MaxTime {
		return t.String() // -inf, +inf: the span of a global window
	}
	return t.Std().Format("15:04:05")
}

// run builds recs -> KeyBy(key) -> windows and prints the results.
func run[K comparable, Out any](recs []stream.Record[Play], key func(Play) K, windows func(stream.KeyedStream[K, Play]) window.Windowed[K, Play, Out]) {
	p := stream.New()
	in := stream.From(p, stream.Records(recs), stream.WithWatermarks(stream.BoundedOutOfOrderness[Play](5*time.Second)))
	w := windows(stream.KeyBy(in, key, stream.Parallelism(1)))
	results := stream.Collect[window.Result[K, Out]]()
	stream.To(w.Results(), results)
	late := stream.Collect[window.LateRecord[Play]]()
	stream.To(w.Late(), late)
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results.Values() {
		fmt.Printf("%v [%s, %s) %v %v\n", r.Key, clock(r.Start), clock(r.End), r.Value, r.Firing)
	}
	for _, l := range late.Values() {
		fmt.Printf("late: %s at %s missed %d window(s)\n", l.Record.Value.Track, clock(l.Record.Time), len(l.Windows))
	}
}

var examplePlays = []stream.Record[Play]{
	{Time: noonPlus(10 * time.Second), Value: Play{"intro", "ann", 30}},
	{Time: noonPlus(50 * time.Second), Value: Play{"anthem", "bob", 200}},
	{Time: noonPlus(58 * time.Second), Value: Play{"intro", "bob", 12}},
	{Time: noonPlus(55 * time.Second), Value: Play{"intro", "cy", 40}}, // out of order, within the 5 s bound
	{Time: noonPlus(70 * time.Second), Value: Play{"intro", "ann", 31}},
	{Time: noonPlus(150 * time.Second), Value: Play{"anthem", "ann", 180}},
}

func byTrack(p Play) string { return p.Track }
func byUser(p Play) string  { return p.User }

// Plays per track per minute.
func ExampleTumbling() {
	run(examplePlays, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int64] {
		return window.Aggregate(k, window.Tumbling(time.Minute), window.Count[Play]())
	})
	// Output:
	// intro [12:00:00, 12:01:00) 3 on-time
	// anthem [12:00:00, 12:01:00) 1 on-time
	// intro [12:01:00, 12:02:00) 1 on-time
	// anthem [12:02:00, 12:03:00) 1 on-time
}

// Plays per track over the last two minutes, every minute.
func ExampleSliding() {
	run(examplePlays, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int64] {
		return window.Aggregate(k, window.Sliding(2*time.Minute, time.Minute), window.Count[Play]())
	})
	// Output:
	// intro [11:59:00, 12:01:00) 3 on-time
	// anthem [11:59:00, 12:01:00) 1 on-time
	// intro [12:00:00, 12:02:00) 4 on-time
	// anthem [12:00:00, 12:02:00) 1 on-time
	// intro [12:01:00, 12:03:00) 1 on-time
	// anthem [12:01:00, 12:03:00) 1 on-time
	// anthem [12:02:00, 12:04:00) 1 on-time
}

// Listening sessions per user: a session ends after a minute without examplePlays.
// Ann's examplePlays at 12:00:10 and 12:01:10 are exactly one gap apart: their
// windows touch, so they merge.
func ExampleSession() {
	run(examplePlays, byUser, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, window.Pair[int64, int]] {
		listened := window.Sum(func(p Play) int { return p.Secs })
		return window.Aggregate(k, window.Session(time.Minute), window.Both(window.Count[Play](), listened))
	})
	// Output:
	// cy [12:00:55, 12:01:55) {1 40} on-time
	// bob [12:00:50, 12:01:58) {2 212} on-time
	// ann [12:00:10, 12:02:10) {2 61} on-time
	// ann [12:02:30, 12:03:30) {1 180} on-time
}

// Count windows: the mean listening time of every two examplePlays of a track; the
// end of input fires what is left.
func ExampleGlobal() {
	run(examplePlays, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, float64] {
		return window.Aggregate(k, window.Global(), window.Mean(func(p Play) int { return p.Secs }), window.CountTrigger(2))
	})
	// Output:
	// intro [-inf, +inf) 21 on-time
	// intro [-inf, +inf) 35.5 on-time
	// anthem [-inf, +inf) 190 on-time
}

// A straggler within the allowed lateness updates its window (a late
// firing); one past it goes to the late output.
func ExampleAllowedLateness() {
	recs := []stream.Record[Play]{
		{Time: noonPlus(10 * time.Second), Value: Play{"intro", "ann", 30}},
		{Time: noonPlus(70 * time.Second), Value: Play{"intro", "bob", 30}},  // W = 12:01:04: [12:00, 12:01) fires
		{Time: noonPlus(20 * time.Second), Value: Play{"intro", "cy", 30}},   // late, within 30 s: fires again
		{Time: noonPlus(100 * time.Second), Value: Play{"intro", "dan", 30}}, // W = 12:01:34: [12:00, 12:01) closes
		{Time: noonPlus(30 * time.Second), Value: Play{"intro", "eve", 30}},  // too late
	}
	run(recs, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int64] {
		return window.Aggregate(k, window.Tumbling(time.Minute), window.Count[Play](), window.AllowedLateness(30*time.Second))
	})
	// Output:
	// intro [12:00:00, 12:01:00) 1 on-time
	// intro [12:00:00, 12:01:00) 2 late
	// intro [12:01:00, 12:02:00) 2 on-time
	// late: intro at 12:00:30 missed 1 window(s)
}

// The same stragglers with FireOnClose: one result per window, when it
// closes (the watermark reaches End-1 plus the lateness), covering the
// straggler within the lateness; the one past it still goes to the late
// output.
func ExampleFireOnClose() {
	recs := []stream.Record[Play]{
		{Time: noonPlus(10 * time.Second), Value: Play{"intro", "ann", 30}},
		{Time: noonPlus(70 * time.Second), Value: Play{"intro", "bob", 30}},  // W = 12:01:04: [12:00, 12:01) does not fire yet
		{Time: noonPlus(20 * time.Second), Value: Play{"intro", "cy", 30}},   // late, within 30 s: added
		{Time: noonPlus(100 * time.Second), Value: Play{"intro", "dan", 30}}, // W = 12:01:34: [12:00, 12:01) closes and fires
		{Time: noonPlus(30 * time.Second), Value: Play{"intro", "eve", 30}},  // too late
	}
	run(recs, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int64] {
		return window.Aggregate(k, window.Tumbling(time.Minute), window.Count[Play](),
			window.AllowedLateness(30*time.Second), window.FireOnClose())
	})
	// Output:
	// intro [12:00:00, 12:01:00) 2 on-time
	// intro [12:01:00, 12:02:00) 2 on-time
	// late: intro at 12:00:30 missed 1 window(s)
}

// Early results every two examplePlays, then the final one.
func ExampleEarlyEvery() {
	run(examplePlays, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int64] {
		return window.Aggregate(k, window.Tumbling(time.Minute), window.Count[Play](), window.EarlyEvery(2))
	})
	// Output:
	// intro [12:00:00, 12:01:00) 2 early
	// intro [12:00:00, 12:01:00) 3 on-time
	// anthem [12:00:00, 12:01:00) 1 on-time
	// intro [12:01:00, 12:02:00) 1 on-time
	// anthem [12:02:00, 12:03:00) 1 on-time
}

// The median listening time per track per minute needs every record: a
// process window.
func ExampleProcess() {
	median := func(track string, w window.Span, recs []stream.Record[Play]) int {
		secs := make([]int, len(recs))
		for i, r := range recs {
			secs[i] = r.Value.Secs
		}
		slices.Sort(secs)
		return secs[len(secs)/2]
	}
	run(examplePlays, byTrack, func(k stream.KeyedStream[string, Play]) window.Windowed[string, Play, int] {
		return window.Process(k, window.Tumbling(time.Minute), median)
	})
	// Output:
	// intro [12:00:00, 12:01:00) 30 on-time
	// anthem [12:00:00, 12:01:00) 200 on-time
	// intro [12:01:00, 12:02:00) 31 on-time
	// anthem [12:02:00, 12:03:00) 180 on-time
}
