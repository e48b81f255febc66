package window_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

// This file checks the window operator against a brute-force reference that
// applies DESIGN.md's event-time rules record by record, on random
// out-of-order streams.

type params struct {
	kind                string // tumbling, sliding, session, global
	size, slide, offset int64
	gap                 int64
	every               int
	lateness            int64
	earlyN              int
	bound               int64
	onClose             bool // FireOnClose
}

func (p params) assigner() window.Assigner {
	switch p.kind {
	case "tumbling":
		return window.Tumbling(dur(p.size), window.Offset(dur(p.offset)))
	case "sliding":
		return window.Sliding(dur(p.size), dur(p.slide), window.Offset(dur(p.offset)))
	case "session":
		return window.Session(dur(p.gap))
	}
	return window.Global()
}

func (p params) options() []window.Option {
	var opts []window.Option
	if p.lateness > 0 {
		opts = append(opts, window.AllowedLateness(dur(p.lateness)))
	}
	if p.earlyN > 0 {
		opts = append(opts, window.EarlyEvery(p.earlyN))
	}
	if p.kind == "global" && p.every > 0 {
		opts = append(opts, window.CountTrigger(p.every))
	}
	if p.onClose {
		opts = append(opts, window.FireOnClose())
	}
	return opts
}

// closeAt is the watermark that closes a window ending at end.
func (p params) closeAt(end int64) int64 {
	if end-1 > maxT-p.lateness {
		return maxT
	}
	return end - 1 + p.lateness
}

// resultTime is the time a result of the window ending at end travels at:
// End-1, or with FireOnClose its close.
func (p params) resultTime(end int64) int64 {
	if p.onClose {
		return p.closeAt(end)
	}
	return end - 1
}

// step is one step of a generated input: a record, a watermark or an idle mark.
type step struct {
	kind int // 0 record, 1 watermark, 2 idle
	rec  ev
	t    int64
	wm   int64
}

// flushing is a source that performs steps and flushes its output after
// every watermark, so that each watermark reaches every parallel instance
// (an exchange otherwise tells an instance the watermark lazily, before its
// next record).
func flushing(steps []step) stream.Source[ev] {
	return stream.SourceFunc[ev](func(ctx context.Context, out stream.SourceOutput[ev]) error {
		for _, s := range steps {
			var err error
			switch s.kind {
			case 0:
				err = out.Emit(stream.Record[ev]{Time: stream.Time(s.t), Value: s.rec})
			case 1:
				if err = out.EmitWatermark(stream.Time(s.wm)); err == nil {
					err = out.Flush()
				}
			default:
				err = out.MarkIdle()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func script(steps []step) []streamtest.Step[ev] {
	out := make([]streamtest.Step[ev], 0, len(steps))
	for _, s := range steps {
		switch s.kind {
		case 0:
			out = append(out, streamtest.Rec(s.rec, stream.Time(s.t)))
		case 1:
			out = append(out, streamtest.Watermark[ev](stream.Time(s.wm)))
		default:
			out = append(out, streamtest.Idle[ev]())
		}
	}
	return out
}

// firing is one result in a comparable form.
type firing struct {
	Key        int
	Start, End int64
	Firing     window.Firing
	Value      string
}

type lateOut struct {
	ID      int
	Windows string
}

const maxT = int64(stream.MaxTime)

// reference computes the results and late records by DESIGN.md's rules:
// windows are half-open; a window fires when W >= end-1 and closes when
// W >= end-1+L; a record whose windows are all closed is late; a record added
// to a fired, unclosed window fires it again (late); end of input is W = +inf.
// With FireOnClose a window fires once, on time, when it closes, and nothing
// else fires. Values are the sorted ids of the window's records.
func reference(p params, steps []step) ([]firing, []lateOut) {
	type rwin struct {
		start, end int64
		ids        []int
		n          int // records since the last firing
	}
	var res []firing
	var late []lateOut
	wins := map[int][]*rwin{}
	w := int64(stream.MinTime)
	closeAt := p.closeAt
	fire := func(key int, x *rwin, f window.Firing) {
		ids := slices.Clone(x.ids)
		slices.Sort(ids)
		res = append(res, firing{Key: key, Start: x.start, End: x.end, Firing: f, Value: fmt.Sprint(ids)})
		x.n = 0
	}
	trigger := func(key int, x *rwin) {
		if p.onClose {
			return // it fires when it closes
		}
		if x.end-1 <= w {
			fire(key, x, window.Late)
			return
		}
		if p.earlyN > 0 {
			x.n++
			if x.n >= p.earlyN {
				fire(key, x, window.Early)
			}
		}
	}
	spans := func(t int64) [][2]int64 {
		if p.kind == "session" {
			return [][2]int64{{t, t + p.gap}}
		}
		slide := p.slide
		if p.kind == "tumbling" {
			slide = p.size
		}
		var out [][2]int64
		for s := t - p.size + 1; s <= t; s++ {
			if ((s-p.offset)%slide+slide)%slide == 0 {
				out = append(out, [2]int64{s, s + p.size})
			}
		}
		return out
	}
	keysOf := func() []int {
		var ks []int
		for k := range wins {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	for _, st := range steps {
		switch st.kind {
		case 1:
			if st.wm <= w {
				continue
			}
			prev := w
			w = st.wm
			for _, k := range keysOf() {
				for _, x := range wins[k] {
					if p.kind == "global" {
						continue
					}
					if p.onClose {
						if closeAt(x.end) <= w { // closed, and dropped below
							fire(k, x, window.OnTime)
						}
						continue
					}
					if prev < x.end-1 && x.end-1 <= w {
						fire(k, x, window.OnTime)
					}
				}
				if p.kind == "global" {
					if w >= maxT-1 {
						for _, x := range wins[k] {
							if len(x.ids) > 0 {
								fire(k, x, window.OnTime)
							}
						}
						delete(wins, k)
					}
					continue
				}
				wins[k] = slices.DeleteFunc(wins[k], func(x *rwin) bool { return closeAt(x.end) <= w })
			}
		case 0:
			k, id, t := st.rec.Key, st.rec.ID, st.t
			switch p.kind {
			case "global":
				if len(wins[k]) == 0 {
					wins[k] = []*rwin{{start: int64(stream.MinTime), end: maxT}}
				}
				x := wins[k][0]
				x.ids = append(x.ids, id)
				if p.every > 0 && len(x.ids) == p.every {
					fire(k, x, window.OnTime)
					x.ids = nil
					continue
				}
				trigger(k, x)
			case "session":
				own := &rwin{start: t, end: t + p.gap}
				m := own
				for merged := true; merged; {
					merged = false
					for i, x := range wins[k] {
						if x.start <= m.end && m.start <= x.end {
							m = &rwin{start: min(m.start, x.start), end: max(m.end, x.end),
								ids: append(slices.Clone(m.ids), x.ids...), n: m.n + x.n}
							wins[k] = slices.Delete(wins[k], i, i+1)
							merged = true
							break
						}
					}
				}
				if closeAt(m.end) <= w {
					late = append(late, lateOut{ID: id, Windows: fmt.Sprint([][2]int64{{own.start, own.end}})})
					continue
				}
				wins[k] = append(wins[k], m)
				m.ids = append(m.ids, id)
				trigger(k, m)
			default:
				all := spans(t)
				var open [][2]int64
				for _, s := range all {
					if closeAt(s[1]) > w {
						open = append(open, s)
					}
				}
				if len(open) == 0 {
					late = append(late, lateOut{ID: id, Windows: fmt.Sprint(all)})
					continue
				}
				for _, s := range open {
					var x *rwin
					for _, y := range wins[k] {
						if y.start == s[0] && y.end == s[1] {
							x = y
						}
					}
					if x == nil {
						x = &rwin{start: s[0], end: s[1]}
						wins[k] = append(wins[k], x)
					}
					x.ids = append(x.ids, id)
					trigger(k, x)
				}
			}
		}
	}
	return res, late
}

// genCase draws random parameters and a random out-of-order input with
// duplicates, negative times, idle marks, watermark jumps and late records.
func genCase(rng *rand.Rand) (params, []step) {
	p := params{kind: []string{"tumbling", "sliding", "session", "global"}[rng.IntN(4)]}
	p.size = 1 + rng.Int64N(40)
	p.slide = p.size
	if p.kind == "sliding" {
		p.slide = 1 + rng.Int64N(p.size)
	}
	if p.kind == "tumbling" || p.kind == "sliding" {
		p.offset = rng.Int64N(2*p.slide-1) - (p.slide - 1)
	}
	p.gap = 1 + rng.Int64N(30)
	p.every = rng.IntN(5)
	p.bound = rng.Int64N(15)
	if p.kind != "global" && rng.IntN(2) == 0 {
		p.lateness = rng.Int64N(30)
	}
	if rng.IntN(3) == 0 {
		p.earlyN = 1 + rng.IntN(4)
	}
	if rng.IntN(3) == 0 {
		// FireOnClose excludes early firings and the count trigger.
		p.onClose, p.earlyN, p.every = true, 0, 0
	}
	nkeys := 1 + rng.IntN(5)
	n := rng.IntN(250)
	many := rng.IntN(5) == 0
	if many {
		// Many keys, densely: panes with more than a handful of keys find
		// them by hash.
		nkeys, n = 13+rng.IntN(60), 300+rng.IntN(900)
	}
	maxSeen := rng.Int64N(400) - 300
	var steps []step
	var last *ev
	var lastT int64
	id := 0
	wm := int64(stream.MinTime)
	for range n {
		r := rng.IntN(100)
		switch {
		case r < 8 && last != nil: // a duplicate of the previous record
			id++
			d := *last
			d.ID = id
			steps = append(steps, step{kind: 0, rec: d, t: lastT})
			continue
		case r < 12:
			steps = append(steps, step{kind: 2})
			continue
		case r < 16:
			wm = max(wm, maxSeen-p.bound-1) + rng.Int64N(20)
			steps = append(steps, step{kind: 1, wm: wm})
			continue
		}
		switch {
		case !many:
			maxSeen += rng.Int64N(6)
		case rng.IntN(4) == 0:
			maxSeen++
		}
		jitter := p.bound + 1
		if rng.IntN(6) == 0 {
			jitter += 25 // beyond the bound: may be late
		}
		t := maxSeen - rng.Int64N(jitter)
		if r < 30 && last != nil {
			// exactly a gap, a size or a slide away from the previous record:
			// sessions that touch, records at a window's end
			d := []int64{p.gap, p.size, p.slide, p.gap + 1, p.gap - 1}[rng.IntN(5)]
			if rng.IntN(2) == 0 {
				d = -d
			}
			t = lastT + d
		}
		maxSeen = max(maxSeen, t)
		id++
		e := ev{Key: rng.IntN(nkeys), V: rng.IntN(100) - 50, ID: id}
		last, lastT = &e, t
		steps = append(steps, step{kind: 0, rec: e, t: t})
		if w := maxSeen - p.bound - 1; w > wm {
			wm = w
			steps = append(steps, step{kind: 1, wm: wm})
		}
	}
	steps = append(steps, step{kind: 1, wm: maxT}) // end of input
	return p, steps
}

func normalize(fs []firing) []firing {
	slices.SortStableFunc(fs, func(a, b firing) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
	})
	return fs
}

// collect turns the sink's results into firings, checking that each result
// travels at its time (End-1, or with FireOnClose the close) and, with
// checkOrder, that on-time and early results precede the watermark that
// reaches that time.
//
// The order check needs either one instance (the sink is chained to the
// window operator, which emits before it forwards the watermark) or an input
// without idle marks: an instance that went idle stops holding back the
// merged watermark at the sink until it emits again, so a lagging instance's
// results may then arrive after a higher merged watermark — the usual price
// of idleness, not a window matter.
func collect[Out any](t *testing.T, p params, s *streamtest.Sink[window.Result[int, Out]], checkOrder bool, value func(Out) string) []firing {
	t.Helper()
	var fs []firing
	before := s.WatermarkBefore()
	for i, r := range s.Records() {
		v := r.Value
		at := stream.Time(p.resultTime(int64(v.End)))
		require.Equal(t, at, r.Time, "result time")
		if checkOrder && v.Firing != window.Late && v.End != stream.MaxTime {
			require.Less(t, before[i], at, "%v result after its watermark: %+v (result %d)", v.Firing, v, i)
		}
		fs = append(fs, firing{Key: v.Key, Start: int64(v.Start), End: int64(v.End), Firing: v.Firing, Value: value(v.Value)})
	}
	return normalize(fs)
}

func collectLate(s *streamtest.Sink[window.LateRecord[ev]]) []lateOut {
	var out []lateOut
	for _, r := range s.Records() {
		var ws [][2]int64
		for _, w := range r.Value.Windows {
			ws = append(ws, [2]int64{int64(w.Start), int64(w.End)})
		}
		out = append(out, lateOut{ID: r.Value.Record.Value.ID, Windows: fmt.Sprint(ws)})
	}
	slices.SortFunc(out, func(a, b lateOut) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func idsOf(_ int, _ window.Span, recs []stream.Record[ev]) string {
	ids := make([]int, len(recs))
	for i, r := range recs {
		ids[i] = r.Value.ID
	}
	slices.Sort(ids)
	return fmt.Sprint(ids)
}

// idleSidekick returns an input of two unioned sources: the script, and a
// source that goes idle at once and stays silent. Without idleness the
// silent source would hold the watermark back to the end.
func idleSidekick(src stream.Source[ev]) func(p *stream.Pipeline) stream.Stream[ev] {
	return func(p *stream.Pipeline) stream.Stream[ev] {
		idle, done := make(chan struct{}), make(chan struct{})
		main := stream.SourceFunc[ev](func(ctx context.Context, out stream.SourceOutput[ev]) error {
			defer close(done)
			select {
			case <-idle:
			case <-ctx.Done():
				return ctx.Err()
			}
			return src.Run(ctx, out)
		})
		silent := stream.SourceFunc[ev](func(ctx context.Context, out stream.SourceOutput[ev]) error {
			// The idle mark enters the union's queue before any of main's
			// records, so the outcome does not depend on scheduling.
			if err := out.MarkIdle(); err != nil {
				return err
			}
			close(idle)
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		return stream.Union([]stream.Stream[ev]{stream.From(p, main), stream.From(p, silent)})
	}
}

func TestAgainstReference(t *testing.T) {
	t.Parallel()
	cases := 300
	if testing.Short() {
		cases = 60
	}
	seed := rand.Uint64()
	if s := os.Getenv("WINDOW_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for c := range cases {
		p, steps := genCase(rng)
		name := fmt.Sprintf("%d/%s", c, p.kind)
		wantRes, wantLate := reference(p, steps)
		wantRes = normalize(wantRes)
		sc := script(steps)
		values := map[int]int{}
		hasIdle := false
		for _, s := range steps {
			switch s.kind {
			case 0:
				values[s.rec.ID] = s.rec.V
			case 2:
				hasIdle = true
			}
		}
		for par := 1; par <= 4; par++ {
			o := runOpts{par: par, batch: 1 + rng.IntN(64)}
			var src stream.Source[ev] = streamtest.NewScript(sc...)
			if rng.IntN(2) == 0 {
				src = flushing(steps)
			}
			if rng.IntN(3) == 0 {
				o.input = idleSidekick(src)
			}
			// Without a consumer of the late output (late records counted and
			// discarded) the runtime may skip the watermarks that fire no
			// window (stream.WatermarkDue).
			opts := p.options()
			if o.noLate = rng.IntN(3) == 0; o.noLate {
				opts = append(opts, window.DiscardLate())
			}
			desc := fmt.Sprintf("%s par=%d batch=%d idle-sidekick=%v no-late-output=%v params=%+v", name, par, o.batch, o.input != nil, o.noLate, p)
			out := runWindow(t, src, o, func(k stream.KeyedStream[int, ev]) window.Windowed[int, ev, string] {
				return window.Process(k, p.assigner(), idsOf, opts...)
			})
			got := collect(t, p, out.results, par == 1 || !hasIdle, func(s string) string { return s })
			if !assert.Equal(t, wantRes, got, desc) {
				t.Logf("input: %s", dumpSteps(steps))
				return
			}
			if !o.noLate {
				gotLate := collectLate(out.late)
				require.Equal(t, wantLate, gotLate, desc)
			}
			require.Equal(t, int64(len(wantLate)), out.lateN, desc)
		}
		// The incremental aggregators give the same answers as the buffer.
		var want []firing
		for _, f := range wantRes {
			var ids []int
			if f.Value != "[]" {
				for _, s := range strings.Fields(strings.Trim(f.Value, "[]")) {
					id, _ := strconv.Atoi(s)
					ids = append(ids, id)
				}
			}
			var sum int
			mx := -1 << 31
			for _, id := range ids {
				sum += values[id]
				mx = max(mx, values[id])
			}
			f.Value = fmt.Sprint(len(ids), sum, mx)
			want = append(want, f)
		}
		par := 1 + rng.IntN(4)
		opts := append(p.options(), window.DiscardLate())
		out := runWindow(t, streamtest.NewScript(sc...), runOpts{par: par, noLate: true}, func(k stream.KeyedStream[int, ev]) window.Windowed[int, ev, window.Triple[int64, int, int]] {
			agg := window.Tuple3(window.Count[ev](), window.Sum(func(e ev) int { return e.V }), window.Max(func(e ev) int { return e.V }))
			return window.Aggregate(k, p.assigner(), agg, opts...)
		})
		got := collect(t, p, out.results, par == 1 || !hasIdle, func(v window.Triple[int64, int, int]) string {
			return fmt.Sprint(v.First, v.Second, v.Third)
		})
		require.Equal(t, want, got, "%s aggregate par=%d params=%+v", name, par, p)
	}
}

func dumpSteps(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		switch s.kind {
		case 0:
			fmt.Fprintf(&b, "r(k%d,t%d,#%d) ", s.rec.Key, s.t, s.rec.ID)
		case 1:
			fmt.Fprintf(&b, "w%d ", s.wm)
		default:
			b.WriteString("idle ")
		}
	}
	return b.String()
}
