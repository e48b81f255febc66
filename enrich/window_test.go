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

// winRecs are one key's records of one window, by side.
type winRecs struct{ as, bs []int }

// refWindowResults turns the records of each window (by key and window end)
// into the results of a join of kind, at End-1.
func refWindowResults(wins map[[2]int64]*winRecs, kind joinKind) []pair {
	var out []pair
	for kw, w := range wins {
		t := stream.Time(kw[1] - 1)
		for _, x := range w.as {
			for _, y := range w.bs {
				out = append(out, pair{x, y, t})
			}
		}
		if len(w.bs) == 0 && kind.outerA() {
			for _, x := range w.as {
				out = append(out, pair{x, -1, t})
			}
		}
		if len(w.as) == 0 && kind.outerB() {
			for _, y := range w.bs {
				out = append(out, pair{-1, y, t})
			}
		}
	}
	sortPairs(out)
	return out
}

// refWindowJoin is the brute-force window join for tumbling and sliding
// windows.
func refWindowJoin(as, bs []stream.Record[ev], size, slide int64, kind joinKind) []pair {
	wins := map[[2]int64]*winRecs{}
	at := func(key int, t stream.Time) []*winRecs {
		var ws []*winRecs
		for _, w := range refFixedWindows(int64(t), size, slide) {
			kw := [2]int64{int64(key), w[1]}
			if wins[kw] == nil {
				wins[kw] = &winRecs{}
			}
			ws = append(ws, wins[kw])
		}
		return ws
	}
	for _, a := range as {
		for _, w := range at(a.Value.Key, a.Time) {
			w.as = append(w.as, a.Value.ID)
		}
	}
	for _, b := range bs {
		for _, w := range at(b.Value.Key, b.Time) {
			w.bs = append(w.bs, b.Value.ID)
		}
	}
	return refWindowResults(wins, kind)
}

// refSessionJoin is the brute-force session window join: per key, the
// records of both sides sorted by time form sessions of records less than
// or exactly gap apart.
func refSessionJoin(as, bs []stream.Record[ev], gap int64, kind joinKind) []pair {
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
	wins := map[[2]int64]*winRecs{}
	for key, rs := range byKey {
		slices.SortFunc(rs, func(x, y rec) int { return int(x.t - y.t) })
		var sess *winRecs
		var end int64
		flush := func() {
			if sess != nil {
				wins[[2]int64{int64(key), end}] = sess
			}
		}
		for _, r := range rs {
			if sess != nil && r.t > end {
				flush()
				sess = nil
			}
			if sess == nil {
				sess, end = &winRecs{}, r.t+gap
			}
			end = max(end, r.t+gap)
			if r.right {
				sess.bs = append(sess.bs, r.id)
			} else {
				sess.as = append(sess.as, r.id)
			}
		}
		flush()
	}
	return refWindowResults(wins, kind)
}

// windowJoinOf builds the window join of kind.
func windowJoinOf(kind joinKind, a, b stream.Stream[ev], assigner window.Assigner, opts ...enrich.JoinOption) enrich.Joined[ev, ev, pair] {
	switch kind {
	case leftJoin:
		return enrich.WindowLeftJoin(a, b, evKey, evKey, assigner, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{x.ID, -1, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, opts...)
	case rightJoin:
		return enrich.WindowRightJoin(a, b, evKey, evKey, assigner, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{-1, y.ID, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, opts...)
	case fullJoin:
		return enrich.WindowFullJoin(a, b, evKey, evKey, assigner, func(x, y ev, hasA, hasB bool) pair {
			p := pair{x.ID, y.ID, 0}
			if !hasA {
				p.A = -1
			}
			if !hasB {
				p.B = -1
			}
			return p
		}, opts...)
	default:
		return enrich.WindowJoin(a, b, evKey, evKey, assigner, func(x, y ev) pair { return pair{x.ID, y.ID, 0} }, opts...)
	}
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
		ref      func(as, bs []stream.Record[ev], kind joinKind) []pair
	}{
		{"tumbling", window.Tumbling(100), func(as, bs []stream.Record[ev], k joinKind) []pair { return refWindowJoin(as, bs, 100, 100, k) }},
		{"sliding", window.Sliding(150, 50), func(as, bs []stream.Record[ev], k joinKind) []pair { return refWindowJoin(as, bs, 150, 50, k) }},
		// Times are even and the gap odd, so no record falls exactly on
		// the end of a session that may already have fired.
		{"session", window.Session(41), func(as, bs []stream.Record[ev], k joinKind) []pair { return refSessionJoin(as, bs, 41, k) }},
	}
	seed := uint64(100)
	for _, tc := range cases {
		for _, disorder := range []int64{0, 30} {
			for _, par := range []int{1, 3} {
				for _, kind := range []joinKind{innerJoin, leftJoin, rightJoin, fullJoin} {
					seed++
					seed := seed
					t.Run(fmt.Sprintf("%s/disorder=%d/par=%d/%v", tc.name, disorder, par, kind), func(t *testing.T) {
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
						j := windowJoinOf(kind, stream.From(p, stream.Records(as), wa), stream.From(p, stream.Records(bs), wa),
							tc.assigner, enrich.JoinExchange(stream.Parallelism(par)), stream.Name("wj"))
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
						want := tc.ref(as, bs, kind)
						require.NotEmpty(t, want)
						assert.Equal(t, want, got)
						assert.Zero(t, m.Late("wj"))
					})
				}
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

// A window join's late records nobody consumes fail the run, unless the
// join has DiscardLate: then they are counted and dropped.
func TestWindowJoinUnconsumedLate(t *testing.T) {
	t.Parallel()
	for _, discard := range []bool{false, true} {
		t.Run(fmt.Sprintf("discard=%v", discard), func(t *testing.T) {
			t.Parallel()
			sent := make(chan struct{})
			early := sendThenSignal([]stream.Record[ev]{stream.At(ev{ID: 10, Key: 1}, 50)}, 1000, sent)
			late := streamtest.NewScript(
				streamtest.Rec(ev{ID: 1, Key: 1}, 60),
				streamtest.WaitFor[ev](sent),
				streamtest.Watermark[ev](1000),
				streamtest.Rec(ev{ID: 2, Key: 1}, 160), // window [100, 200) has fired
			)
			m := newMetrics()
			p := stream.New(stream.WithMetrics(m))
			opts := []enrich.JoinOption{stream.Name("wj")}
			if discard {
				opts = append(opts, enrich.DiscardLate())
			}
			j := enrich.WindowJoin(stream.From[ev](p, late), stream.From[ev](p, early), evKey, evKey, window.Tumbling(100),
				func(a, b ev) pair { return pair{a.ID, b.ID, 0} }, opts...)
			out := stream.Collect[pair]()
			stream.To(j.Stream, out)
			err := p.Run(context.Background())
			assert.Equal(t, int64(1), m.Late("wj"))
			if !discard {
				require.ErrorIs(t, err, stream.ErrNotConnected)
				assert.Contains(t, err.Error(), "wj")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []pair{{1, 10, 0}}, out.Values())
		})
	}
}
