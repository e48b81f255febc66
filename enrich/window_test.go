package enrich_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

func floorDiv(x, y int64) int64 {
	q := x / y
	if x%y != 0 && (x < 0) != (y < 0) {
		q--
	}
	return q
}

// refFixedWindows returns the [start, end) windows of size starting every
// slide that contain t.
func refFixedWindows(t, size, slide int64) [][2]int64 {
	var out [][2]int64
	for s := floorDiv(t, slide) * slide; s > t-size; s -= slide {
		out = append(out, [2]int64{s, s + size})
	}
	return out
}

// refWindowJoin is the brute-force window join for tumbling and sliding
// windows.
func refWindowJoin(as, bs []stream.Record[ev], size, slide int64) []pair {
	var out []pair
	for _, a := range as {
		for _, b := range bs {
			if a.Value.Key != b.Value.Key {
				continue
			}
			for _, wa := range refFixedWindows(int64(a.Time), size, slide) {
				if slices.Contains(refFixedWindows(int64(b.Time), size, slide), wa) {
					out = append(out, pair{a.Value.ID, b.Value.ID, stream.Time(wa[1] - 1)})
				}
			}
		}
	}
	sortPairs(out)
	return out
}

// refSessionJoin is the brute-force session window join: per key, the
// records of both sides sorted by time form sessions of records less than
// or exactly gap apart.
func refSessionJoin(as, bs []stream.Record[ev], gap int64) []pair {
	type rec struct {
		t     int64
		id    int
		right bool
	}
	byKey := map[int][]rec{}
	for _, a := range as {
		byKey[a.Value.Key] = append(byKey[a.Value.Key], rec{int64(a.Time), a.Value.ID, false})
	}
	for _, b := range bs {
		byKey[b.Value.Key] = append(byKey[b.Value.Key], rec{int64(b.Time), b.Value.ID, true})
	}
	var out []pair
	emit := func(sess []rec, end int64) {
		for _, x := range sess {
			for _, y := range sess {
				if !x.right && y.right {
					out = append(out, pair{x.id, y.id, stream.Time(end - 1)})
				}
			}
		}
	}
	for _, rs := range byKey {
		slices.SortFunc(rs, func(x, y rec) int { return int(x.t - y.t) })
		var sess []rec
		var end int64
		for _, r := range rs {
			if len(sess) > 0 && r.t > end {
				emit(sess, end)
				sess = nil
			}
			sess = append(sess, r)
			end = max(end, r.t+gap)
			if len(sess) == 1 {
				end = r.t + gap
			}
		}
		emit(sess, end)
	}
	sortPairs(out)
	return out
}

func TestWindowJoinMatchesReference(t *testing.T) {
	t.Parallel()
	n := 300
	if testing.Short() {
		n = 120
	}
	cases := []struct {
		name     string
		assigner window.Assigner
		ref      func(as, bs []stream.Record[ev]) []pair
	}{
		{"tumbling", window.Tumbling(100), func(as, bs []stream.Record[ev]) []pair { return refWindowJoin(as, bs, 100, 100) }},
		{"sliding", window.Sliding(150, 50), func(as, bs []stream.Record[ev]) []pair { return refWindowJoin(as, bs, 150, 50) }},
		// Times are even and the gap odd, so no record falls exactly on
		// the end of a session that may already have fired.
		{"session", window.Session(41), func(as, bs []stream.Record[ev]) []pair { return refSessionJoin(as, bs, 41) }},
	}
	seed := uint64(100)
	for _, tc := range cases {
		for _, disorder := range []int64{0, 30} {
			for _, par := range []int{1, 3} {
				seed++
				seed := seed
				t.Run(fmt.Sprintf("%s/disorder=%d/par=%d", tc.name, disorder, par), func(t *testing.T) {
					t.Parallel()
					rng := rand.New(rand.NewPCG(seed, 9))
					even := func(rs []stream.Record[ev]) []stream.Record[ev] {
						for i := range rs {
							rs[i].Time = rs[i].Time / 2 * 2
						}
						return rs
					}
					// Sparse keys make sessions end and start again.
					as := even(genEvents(rng, n, 5, 16, -2000, disorder, 0))
					bs := even(genEvents(rng, n, 5, 22, -2000, disorder, 100_000))
					m := newMetrics()
					p := stream.New(stream.WithMetrics(m), stream.WithBatchSize(16))
					wa := stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](time.Duration(disorder)))
					j := enrich.WindowJoin(stream.From(p, stream.Records(as), wa), stream.From(p, stream.Records(bs), wa),
						evKey, evKey, tc.assigner, func(a, b ev) pair { return pair{a.ID, b.ID, 0} },
						enrich.JoinExchange(stream.Parallelism(par)), stream.Name("wj"))
					sink := streamtest.NewSink[pair]()
					stream.To(j.Stream, sink)
					require.NoError(t, p.Run(context.Background()))
					var got []pair
					wmBefore := sink.WatermarkBefore()
					for i, r := range sink.Records() {
						got = append(got, pair{r.Value.A, r.Value.B, r.Time})
						assert.Greater(t, r.Time, wmBefore[i], "result %v is late downstream", r.Value)
					}
					sortPairs(got)
					want := tc.ref(as, bs)
					require.NotEmpty(t, want)
					assert.Equal(t, want, got)
					assert.Zero(t, m.Late("wj"))
				})
			}
		}
	}
}

func TestWindowJoinFiresOnWatermark(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	as := streamtest.NewScript(
		streamtest.Rec(ev{ID: 1, Key: 1}, 10),
		streamtest.Rec(ev{ID: 2, Key: 1}, 120), // next window
		streamtest.Watermark[ev](99),
		streamtest.WaitFor[ev](release),
	)
	bs := streamtest.NewScript(
		streamtest.Rec(ev{ID: 10, Key: 1}, 50),
		streamtest.Rec(ev{ID: 11, Key: 2}, 60), // other key: no partner
		streamtest.Watermark[ev](150),
		streamtest.WaitFor[ev](release),
	)
	p := stream.New()
	j := enrich.WindowJoin(stream.From[ev](p, as), stream.From[ev](p, bs), evKey, evKey, window.Tumbling(100),
		func(a, b ev) pair { return pair{a.ID, b.ID, 0} })
	out := make(chan pair, 10)
	stream.To(j.Stream, stream.ChanSink(out))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case v := <-out:
		assert.Equal(t, pair{1, 10, 0}, v, "[0, 100) fires at watermark 99, before end of input")
	case <-ctx.Done():
		t.Fatal("window did not fire on the watermark")
	}
	close(release)
	require.NoError(t, <-done)
	assert.Empty(t, out, "window [100, 200) has no b record")
}

func TestWindowJoinLateRecords(t *testing.T) {
	t.Parallel()
	sent := make(chan struct{})
	early := sendThenSignal([]stream.Record[ev]{stream.At(ev{ID: 10, Key: 1}, 50), stream.At(ev{ID: 11, Key: 1}, 150)}, 1000, sent)
	late := streamtest.NewScript(
		streamtest.Rec(ev{ID: 1, Key: 1}, 60),
		streamtest.WaitFor[ev](sent),
		streamtest.Watermark[ev](1000),
		streamtest.Rec(ev{ID: 2, Key: 1}, 160), // window [100, 200) has fired
	)
	m := newMetrics()
	p := stream.New(stream.WithMetrics(m))
	j := enrich.WindowJoin(stream.From[ev](p, late, stream.Name("late")), stream.From[ev](p, early), evKey, evKey, window.Tumbling(100),
		func(a, b ev) pair { return pair{a.ID, b.ID, 0} })
	out := stream.Collect[pair]()
	stream.To(j.Stream, out)
	lateOut := stream.Collect[stream.Either[ev, ev]]()
	stream.To(j.Late(), lateOut)
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []pair{{1, 10, 0}}, out.Values())
	lr := lateOut.Records()
	require.Len(t, lr, 1)
	assert.Equal(t, stream.Time(160), lr[0].Time)
	assert.False(t, lr[0].Value.IsRight)
	assert.Equal(t, 2, lr[0].Value.Left.ID)
	assert.Equal(t, int64(1), m.Late("late.connect.window-join"))
}

func TestWindowJoinInvalidAssigner(t *testing.T) {
	t.Parallel()
	p := stream.New()
	a := stream.From(p, stream.Records([]stream.Record[ev]{stream.At(ev{}, 1)}))
	b := stream.From(p, stream.Records([]stream.Record[ev]{stream.At(ev{}, 1)}))
	j := enrich.WindowJoin(a, b, evKey, evKey, window.Tumbling(0), func(a, b ev) pair { return pair{} })
	stream.To(j.Stream, stream.Discard[pair]())
	err := p.Run(context.Background())
	assert.ErrorIs(t, err, stream.ErrInvalid)
}
