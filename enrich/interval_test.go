package enrich_test

import (
	"cmp"
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
)

// ev is an input record of the join tests.
type ev struct {
	ID  int
	Key int
}

func evKey(e ev) int { return e.Key }

// pair is a join result: the IDs of both sides (-1: no partner on that side)
// and the result's time.
type pair struct {
	A, B int
	T    stream.Time
}

func sortPairs(ps []pair) {
	slices.SortFunc(ps, func(x, y pair) int {
		return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B), cmp.Compare(x.T, y.T))
	})
}

// genEvents returns n records in emission order: record i has a time in
// [i*step + off, i*step + off + disorder], so a bounded-out-of-orderness
// watermark with bound disorder never makes one late.
func genEvents(rng *rand.Rand, n, keys int, step, off, disorder int64, firstID int) []stream.Record[ev] {
	out := make([]stream.Record[ev], n)
	for i := range out {
		t := int64(i)*step + off + rng.Int64N(disorder+1)
		out[i] = stream.At(ev{ID: firstID + i, Key: rng.IntN(keys)}, stream.Time(t))
	}
	return out
}

// joinKind is which records without a partner an outer join emits.
type joinKind int

const (
	innerJoin joinKind = iota
	leftJoin
	rightJoin
	fullJoin
)

func (k joinKind) String() string { return [...]string{"inner", "left", "right", "full"}[k] }

func (k joinKind) outerA() bool { return k == leftJoin || k == fullJoin }
func (k joinKind) outerB() bool { return k == rightJoin || k == fullJoin }

// refInterval is the brute-force interval join: every pair in the interval,
// and for an outer join every record of the outer side(s) without one.
func refInterval(as, bs []stream.Record[ev], lower, upper time.Duration, kind joinKind) []pair {
	var out []pair
	matchedB := make([]bool, len(bs))
	for _, a := range as {
		matched := false
		for j, b := range bs {
			if a.Value.Key == b.Value.Key && a.Time.Add(lower) <= b.Time && b.Time <= a.Time.Add(upper) {
				out = append(out, pair{a.Value.ID, b.Value.ID, max(a.Time, b.Time)})
				matched = true
				matchedB[j] = true
			}
		}
		if kind.outerA() && !matched {
			out = append(out, pair{a.Value.ID, -1, max(a.Time, a.Time.Add(upper))})
		}
	}
	if kind.outerB() {
		for j, b := range bs {
			if !matchedB[j] {
				out = append(out, pair{-1, b.Value.ID, max(b.Time, b.Time.Add(-lower))})
			}
		}
	}
	sortPairs(out)
	return out
}

// intervalJoinOf builds the interval join of kind, with results whose time
// the test fills in from the record.
func intervalJoinOf(kind joinKind, a, b stream.Stream[ev], lower, upper time.Duration, opts ...enrich.JoinOption) enrich.Joined[ev, ev, pair] {
	switch kind {
	case leftJoin:
		return enrich.IntervalLeftJoin(a, b, evKey, evKey, lower, upper, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{x.ID, -1, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, opts...)
	case rightJoin:
		return enrich.IntervalRightJoin(a, b, evKey, evKey, lower, upper, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{-1, y.ID, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, opts...)
	case fullJoin:
		return enrich.IntervalFullJoin(a, b, evKey, evKey, lower, upper, func(x, y ev, hasA, hasB bool) pair {
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
		return enrich.IntervalJoin(a, b, evKey, evKey, lower, upper, func(x, y ev) pair { return pair{x.ID, y.ID, 0} }, opts...)
	}
}

func TestIntervalJoinMatchesReference(t *testing.T) {
	t.Parallel()
	n := 400
	if testing.Short() {
		n = 250 // fewer and the exact-match bounds (0, 0) find no pair to check
	}
	bounds := []struct{ lower, upper time.Duration }{
		{-20, 20}, {0, 0}, {-50, -10}, {10, 60}, {0, 100}, {-100, 0},
	}
	seed := uint64(0)
	for _, bd := range bounds {
		for _, disorder := range []int64{0, 35} {
			for _, par := range []int{1, 3} {
				for _, kind := range []joinKind{innerJoin, leftJoin, rightJoin, fullJoin} {
					seed++
					seed := seed
					name := fmt.Sprintf("lower=%d/upper=%d/disorder=%d/par=%d/%v", bd.lower, bd.upper, disorder, par, kind)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						rng := rand.New(rand.NewPCG(seed, 7))
						as := genEvents(rng, n, 13, 10, 0, disorder, 0)
						bs := genEvents(rng, n, 13, 7, 0, disorder, 100_000)
						m := newMetrics()
						p := stream.New(stream.WithMetrics(m), stream.WithBatchSize(16))
						wa := stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](time.Duration(disorder)))
						sa := stream.From(p, stream.Records(as), wa)
						sb := stream.From(p, stream.Records(bs), wa)
						opts := []enrich.JoinOption{enrich.JoinExchange(stream.Parallelism(par)), stream.Name("ij")}
						j := intervalJoinOf(kind, sa, sb, bd.lower, bd.upper, opts...)
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
						want := refInterval(as, bs, bd.lower, bd.upper, kind)
						require.NotEmpty(t, want)
						assert.Equal(t, want, got)
						assert.Zero(t, m.Late("ij"), "nothing is late when the watermark matches the disorder")
					})
				}
			}
		}
	}
}

// sendThenSignal is a source that emits recs, the watermark wm, flushes, and
// closes sent: everything it emitted is then queued before whatever another
// source emits afterwards.
func sendThenSignal(recs []stream.Record[ev], wm stream.Time, sent chan struct{}) stream.Source[ev] {
	return stream.SourceFunc[ev](func(_ context.Context, out stream.SourceOutput[ev]) error {
		defer close(sent)
		for _, r := range recs {
			if err := out.Emit(r); err != nil {
				return err
			}
		}
		if err := out.EmitWatermark(wm); err != nil {
			return err
		}
		return out.Flush()
	})
}

func TestIntervalJoinLateRecords(t *testing.T) {
	t.Parallel()
	for _, lateSide := range []string{"left", "right"} {
		for _, lateOutput := range []string{"consumed", "discarded", "none"} {
			t.Run(fmt.Sprintf("%s/late-output=%s", lateSide, lateOutput), func(t *testing.T) {
				t.Parallel()
				sent := make(chan struct{})
				// The on-time side goes first, with its watermark at 1000.
				early := sendThenSignal([]stream.Record[ev]{stream.At(ev{ID: 1, Key: 1}, 100)}, 1000, sent)
				// Then the other side: one on-time record, the watermark 1000
				// (the join's watermark is now 1000), a late record at 990
				// that would have matched, and an on-time one.
				late := streamtest.NewScript(
					streamtest.Rec(ev{ID: 2, Key: 1}, 110),
					streamtest.WaitFor[ev](sent),
					streamtest.Watermark[ev](1000),
					streamtest.Rec(ev{ID: 3, Key: 1}, 990),
					streamtest.Rec(ev{ID: 4, Key: 1}, 1010),
				)
				m := newMetrics()
				p := stream.New(stream.WithMetrics(m))
				var sa, sb stream.Stream[ev]
				if lateSide == "left" {
					sb = stream.From[ev](p, early)
					sa = stream.From[ev](p, late)
				} else {
					sa = stream.From[ev](p, early)
					sb = stream.From[ev](p, late)
				}
				opts := []enrich.JoinOption{stream.Name("join")}
				if lateOutput == "discarded" {
					opts = append(opts, enrich.DiscardLate())
				}
				j := enrich.IntervalJoin(sa, sb, evKey, evKey, -1000, 1000, func(a, b ev) pair { return pair{a.ID, b.ID, 0} }, opts...)
				out := stream.Collect[pair]()
				stream.To(j.Stream, out)
				lateOut := stream.Collect[stream.Either[ev, ev]]()
				if lateOutput == "consumed" {
					stream.To(j.Late(), lateOut)
				}
				err := p.Run(context.Background())
				if lateOutput == "none" {
					// Nobody consumes the late output, and it was not
					// discarded: the late record fails the run.
					require.ErrorIs(t, err, stream.ErrNotConnected)
					assert.Contains(t, err.Error(), "join")
					assert.Equal(t, int64(1), m.Late("join"))
					return
				}
				require.NoError(t, err)
				var got []pair
				for _, r := range out.Records() {
					got = append(got, pair{r.Value.A, r.Value.B, r.Time})
				}
				sortPairs(got)
				if lateSide == "left" {
					assert.Equal(t, []pair{{2, 1, 110}, {4, 1, 1010}}, got, "the late record 3 joins nothing")
				} else {
					assert.Equal(t, []pair{{1, 2, 110}, {1, 4, 1010}}, got, "the late record 3 joins nothing")
				}
				assert.Equal(t, int64(1), m.Late("join"))
				if lateOutput == "consumed" {
					lr := lateOut.Records()
					require.Len(t, lr, 1)
					assert.Equal(t, stream.Time(990), lr[0].Time)
					v := lr[0].Value
					assert.Equal(t, lateSide == "right", v.IsRight)
					assert.Equal(t, 3, map[bool]int{false: v.Left.ID, true: v.Right.ID}[v.IsRight])
				} else {
					assert.Empty(t, lateOut.Records())
				}
			})
		}
	}
}

// TestIntervalLeftJoinIdleInput checks that an idle right input does not
// hold the join back: unmatched left records come out on the left input's
// watermark alone, while the right input is still open.
func TestIntervalLeftJoinIdleInput(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	as := streamtest.NewScript(
		streamtest.Rec(ev{ID: 1, Key: 7}, 100),
		streamtest.Rec(ev{ID: 2, Key: 7}, 500),
		streamtest.Watermark[ev](2000),
		streamtest.WaitFor[ev](release),
	)
	bs := streamtest.NewScript(
		streamtest.Rec(ev{ID: 10, Key: 7}, 105),
		streamtest.Idle[ev](),
		streamtest.WaitFor[ev](release),
	)
	p := stream.New()
	j := enrich.IntervalLeftJoin(stream.From[ev](p, as), stream.From[ev](p, bs), evKey, evKey, -20, 20,
		func(a, b ev, ok bool) pair {
			if !ok {
				return pair{a.ID, -1, 0}
			}
			return pair{a.ID, b.ID, 0}
		}, enrich.JoinExchange(stream.Parallelism(2)))
	out := make(chan stream.Record[pair], 10)
	stream.To(j.Stream, stream.SinkFunc[pair](func(ctx context.Context, r stream.Record[pair]) error {
		out <- r
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var got []pair
	for range 2 {
		select {
		case r := <-out:
			got = append(got, pair{r.Value.A, r.Value.B, r.Time})
		case <-ctx.Done():
			t.Fatalf("the idle input held the join back; got %v", got)
		}
	}
	sortPairs(got)
	assert.Equal(t, []pair{{1, 10, 105}, {2, -1, 520}}, got)
	close(release)
	require.NoError(t, <-done)
	assert.Empty(t, out, "nothing more at end of input")
}

func TestIntervalJoinInvalid(t *testing.T) {
	t.Parallel()
	p := stream.New()
	a := stream.From(p, stream.Records([]stream.Record[ev]{stream.At(ev{}, 1)}))
	b := stream.From(p, stream.Records([]stream.Record[ev]{stream.At(ev{}, 1)}))
	j := enrich.IntervalJoin(a, b, evKey, evKey, 10, -10, func(a, b ev) pair { return pair{} })
	stream.To(j.Stream, stream.Discard[pair]())
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}
