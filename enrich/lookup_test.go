package enrich_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type play struct {
	ID    int
	Track string
}

type track struct {
	Title string
}

type enriched struct {
	ID    int
	Title string
}

func joinPlay(p play, t track) enriched { return enriched{ID: p.ID, Title: t.Title} }

func playTrack(p play) string { return p.Track }

// metrics counts errors and late records per operator name.
type metrics struct {
	mu   sync.Mutex
	errs map[string]int64
	late map[string]int64
}

func newMetrics() *metrics { return &metrics{errs: map[string]int64{}, late: map[string]int64{}} }

func (m *metrics) Operator(name string, _ int) stream.OperatorMetrics {
	return &opMetrics{m: m, name: name}
}

func (m *metrics) Errors(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.errs[name]
}

func (m *metrics) Late(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.late[name]
}

type opMetrics struct {
	m    *metrics
	name string
}

func (o *opMetrics) RecordsIn(int64)       {}
func (o *opMetrics) RecordsOut(int64)      {}
func (o *opMetrics) Watermark(stream.Time) {}
func (o *opMetrics) QueueFill(int, int)    {}

func (o *opMetrics) Errors(n int64) {
	o.m.mu.Lock()
	o.m.errs[o.name] += n
	o.m.mu.Unlock()
}

func (o *opMetrics) Late(n int64) {
	o.m.mu.Lock()
	o.m.late[o.name] += n
	o.m.mu.Unlock()
}

var catalog = map[string]track{"a": {"Alpha"}, "b": {"Beta"}, "c": {"Gamma"}}

// plays returns n plays over tracks a..e (d and e are not in the catalog),
// at times 0, 10, 20, ...
func plays(n int) []stream.Record[play] {
	keys := []string{"a", "b", "c", "d", "e"}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]stream.Record[play], n)
	for i := range out {
		out[i] = stream.At(play{ID: i, Track: keys[rng.IntN(len(keys))]}, stream.Time(i*10))
	}
	return out
}

func TestLookupMissingKeyPolicies(t *testing.T) {
	t.Parallel()
	in := plays(500)
	type want struct {
		joined []enriched
		dead   []int // IDs
		errs   int64
	}
	ref := func(def *track, drop bool) want {
		var w want
		for _, r := range in {
			row, ok := catalog[r.Value.Track]
			switch {
			case ok:
				w.joined = append(w.joined, joinPlay(r.Value, row))
			case def != nil:
				w.joined = append(w.joined, joinPlay(r.Value, *def))
			case drop:
				w.errs++
			default:
				w.dead = append(w.dead, r.Value.ID)
				w.errs++
			}
		}
		return w
	}
	unknown := track{"(unknown)"}
	cases := []struct {
		name string
		opts []enrich.LookupOption
		dead bool // consume the dead letters
		want want
	}{
		{"dead-letter default", nil, true, ref(nil, false)},
		{"dead-letter explicit", []enrich.LookupOption{enrich.DeadLetterMissing()}, true, ref(nil, false)},
		{"drop and count", []enrich.LookupOption{enrich.DropMissing()}, false, ref(nil, true)},
		{"default row", []enrich.LookupOption{enrich.DefaultRow(unknown)}, false, ref(&unknown, false)},
	}
	for _, tc := range cases {
		for _, batch := range []int{0, 1, 7, 1000, -1} { // 0: a bare MapTable; -1: Async
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(t *testing.T) {
				t.Parallel()
				m := newMetrics()
				p := stream.New(stream.WithMetrics(m))
				s := stream.From(p, stream.Records(in))
				opts := append([]enrich.LookupOption{stream.Name("catalog")}, tc.opts...)
				tbl := tableFor(batch)
				if batch < 0 {
					tbl = tableFor(1)
				}
				switch {
				case batch > 0:
					opts = append(opts, enrich.Batch(batch))
				case batch < 0:
					opts = append(opts, enrich.Async(stream.MaxInFlight(13)))
				}
				e := enrich.Lookup(s, tbl, playTrack, joinPlay, opts...)
				out := stream.Collect[enriched]()
				stream.To(e.Stream, out)
				dead := stream.Collect[stream.DeadLetter[play]]()
				if tc.dead {
					stream.To(e.DeadLetters(), dead)
				}
				require.NoError(t, p.Run(context.Background()))
				assert.Equal(t, tc.want.joined, out.Values(), "joined records, in input order")
				var deadIDs []int
				for _, d := range dead.Values() {
					deadIDs = append(deadIDs, d.Record.Value.ID)
					assert.ErrorIs(t, d.Err, enrich.ErrMissingKey)
					assert.Contains(t, d.Err.Error(), d.Record.Value.Track)
					assert.Equal(t, "catalog", d.Operator)
					assert.Equal(t, in[d.Record.Value.ID].Time, d.Record.Time)
				}
				assert.Equal(t, tc.want.dead, deadIDs)
				// Async: the records dropped are counted by the operator
				// after the requests.
				assert.Equal(t, tc.want.errs, m.Errors("catalog")+m.Errors("catalog.out"), "missing keys counted")
			})
		}
	}
}

func TestLookupDeadLetterUnconsumedFailsRun(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{0, 1, 16, -1} {
		p := stream.New()
		s := stream.From(p, stream.Records(plays(100)))
		opt := enrich.Batch(max(batch, 1))
		if batch < 0 {
			opt = enrich.Async()
		}
		e := enrich.Lookup(s, tableFor(max(batch, 0)), playTrack, joinPlay, opt, stream.Name("lookup"))
		stream.To(e.Stream, stream.Discard[enriched]())
		err := p.Run(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, stream.ErrNotConnected)
		assert.ErrorIs(t, err, enrich.ErrMissingKey)
		var oe *stream.OperatorError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "lookup", oe.Op)
	}
}

func TestLookupInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []enrich.LookupOption
	}{
		{"default row of the wrong type", []enrich.LookupOption{enrich.DefaultRow("not a track")}},
		{"batch 0", []enrich.LookupOption{enrich.Batch(0)}},
		{"negative timeout", []enrich.LookupOption{enrich.Timeout(-time.Second)}},
		{"async and batch", []enrich.LookupOption{enrich.Batch(8), enrich.Async()}},
		{"async with a bad option", []enrich.LookupOption{enrich.Async(stream.MaxInFlight(-1))}},
		{"async default row of the wrong type", []enrich.LookupOption{enrich.DefaultRow(1), enrich.Async()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			s := stream.From(p, stream.Records(plays(3)))
			e := enrich.Lookup(s, enrich.NewMapTable(catalog), playTrack, joinPlay, tc.opts...)
			stream.To(e.Stream, stream.Discard[enriched]())
			stream.To(e.DeadLetters(), stream.Discard[stream.DeadLetter[play]]())
			assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
		})
	}
}

func TestLookupTableErrorFailsRun(t *testing.T) {
	t.Parallel()
	down := errors.New("table down")
	for _, batch := range []int{1, 8, -1} { // -1: Async
		var calls atomic.Int64
		tbl := enrich.TableFunc[string, track](func(_ context.Context, k string) (track, bool, error) {
			if calls.Add(1) > 20 {
				return track{}, false, down
			}
			return track{Title: k}, true, nil
		})
		p := stream.New()
		s := stream.From(p, stream.Records(plays(100)))
		opt := enrich.Batch(max(batch, 1))
		if batch < 0 {
			opt = enrich.Async(stream.MaxInFlight(4))
		}
		e := enrich.Lookup(s, tbl, playTrack, joinPlay, opt)
		out := stream.Collect[enriched]()
		stream.To(e.Stream, out)
		err := p.Run(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, down)
		var oe *stream.OperatorError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "source.lookup", oe.Op, "default name")
		got := out.Values()
		assert.LessOrEqual(t, len(got), 20, "no record passes after the failure")
		for i, v := range got {
			assert.Equal(t, enriched{ID: i, Title: plays(100)[i].Value.Track}, v, "every record that passed was joined")
		}
	}
}

// tableFor returns the catalog as a bare MapTable for batch 0 (looked up
// directly), and wrapped, so that the lookup goes through the Table
// interface and batches, otherwise.
func tableFor(batch int) enrich.Table[string, track] {
	if batch == 0 {
		return enrich.NewMapTable(catalog)
	}
	return &countingTable{MapTable: enrich.NewMapTable(catalog)}
}

// countingTable records the size of every GetMany batch.
type countingTable struct {
	*enrich.MapTable[string, track]
	mu      sync.Mutex
	batches []int
	gets    int
}

func (c *countingTable) Get(ctx context.Context, k string) (track, bool, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.MapTable.Get(ctx, k)
}

func (c *countingTable) GetMany(ctx context.Context, keys []string, rows []track, found []bool) error {
	c.mu.Lock()
	c.batches = append(c.batches, len(keys))
	c.mu.Unlock()
	return c.MapTable.GetMany(ctx, keys, rows, found)
}

// everyHundred is a watermark strategy for in-order records: the watermark
// rises once per 100ns of event time.
type everyHundred struct{}

func (everyHundred) NewGenerator() stream.WatermarkGenerator[play] { return &hundredGen{} }

type hundredGen struct{}

func (*hundredGen) OnRecord(r stream.Record[play]) stream.Time { return r.Time/100*100 - 1 }

// TestLookupBatchKeepsWatermarkOrder checks that batching changes neither
// the results nor their place among the watermarks: the batch is resolved
// before each watermark is forwarded.
func TestLookupBatchKeepsWatermarkOrder(t *testing.T) {
	t.Parallel()
	in := plays(2000)
	run := func(batch int) ([]streamtest.Event[enriched], *countingTable) {
		tbl := &countingTable{MapTable: enrich.NewMapTable(catalog)}
		p := stream.New()
		// a watermark every 10 records: floor(maxSeen / 100) * 100 - 1
		s := stream.From(p, stream.Records(in), stream.WithWatermarks[play](everyHundred{}))
		e := enrich.Lookup(s, tbl, playTrack, joinPlay, enrich.Batch(batch), enrich.DefaultRow(track{"?"}))
		sink := streamtest.NewSink[enriched]()
		stream.To(e.Stream, sink)
		require.NoError(t, p.Run(context.Background()))
		return sink.Events(), tbl
	}
	want, tbl1 := run(1)
	assert.Equal(t, 2000, tbl1.gets)
	assert.Empty(t, tbl1.batches)
	require.Len(t, want, 2000+200+1, "2000 records, a watermark every 10 records, and +inf")
	got, tbl := run(32)
	assert.Equal(t, want, got)
	assert.Zero(t, tbl.gets)
	total := 0
	for _, n := range tbl.batches {
		assert.LessOrEqual(t, n, 32)
		assert.Positive(t, n)
		total += n
	}
	assert.Equal(t, 2000, total)
	// Watermarks after records 0, 10, ..., 1990 cut the batches: {0},
	// 199 batches of 10, and the last 9 records at end of input.
	assert.Len(t, tbl.batches, 201)
}

func TestLookupBatchMaxWait(t *testing.T) {
	t.Parallel()
	clk := streamtest.NewClock(time.Unix(1000, 0))
	p := stream.New(stream.WithClock(clk))
	in := make(chan play)
	s := stream.From(p, stream.Chan(in))
	s = stream.Rebalance(s, stream.Parallelism(1))               // timers are served by exchange-fed tasks
	tbl := &countingTable{MapTable: enrich.NewMapTable(catalog)} // not a bare MapTable, which is never batched
	e := enrich.Lookup(s, tbl, playTrack, joinPlay, enrich.Batch(100), enrich.MaxWait(time.Second))
	out := make(chan enriched, 10)
	stream.To(e.Stream, stream.ChanSink(out))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	for _, want := range []enriched{{1, "Alpha"}, {2, "Beta"}} {
		in <- play{ID: want.ID, Track: map[string]string{"Alpha": "a", "Beta": "b"}[want.Title]}
		require.NoError(t, clk.WaitForTimers(ctx, 1), "the first buffered record arms a timer")
		clk.Advance(999 * time.Millisecond)
		assert.Equal(t, 1, clk.Pending(), "not due yet")
		select {
		case v := <-out:
			t.Fatalf("record %v passed before MaxWait", v)
		default:
		}
		clk.Advance(time.Millisecond)
		select {
		case got := <-out:
			assert.Equal(t, want, got)
		case <-ctx.Done():
			t.Fatal("batch not flushed after MaxWait")
		}
	}
	close(in)
	require.NoError(t, <-done)
}

func TestMapTableSwapDuringRun(t *testing.T) {
	t.Parallel()
	tbl := enrich.NewMapTable(map[string]track{"a": {"old"}})
	p := stream.New()
	in := make(chan play)
	s := stream.From(p, stream.Chan(in))
	e := enrich.Lookup(s, tbl, playTrack, joinPlay)
	out := make(chan enriched)
	stream.To(e.Stream, stream.ChanSink(out))
	stream.To(e.DeadLetters(), stream.Discard[stream.DeadLetter[play]]())
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	in <- play{ID: 1, Track: "a"}
	assert.Equal(t, enriched{1, "old"}, <-out)
	old := tbl.Swap(map[string]track{"a": {"new"}, "b": {"added"}})
	assert.Equal(t, map[string]track{"a": {"old"}}, old)
	in <- play{ID: 2, Track: "a"}
	assert.Equal(t, enriched{2, "new"}, <-out)
	in <- play{ID: 3, Track: "b"}
	assert.Equal(t, enriched{3, "added"}, <-out)
	assert.Equal(t, 2, tbl.Len())
	close(in)
	require.NoError(t, <-done)
}

// TestMapTableConcurrentSwap reloads the table continuously while a batched
// lookup reads it: every record sees one whole version, and versions never
// go backwards along the stream.
func TestMapTableConcurrentSwap(t *testing.T) {
	t.Parallel()
	const keys = 50
	version := func(v int) map[int]int {
		m := make(map[int]int, keys)
		for k := range keys {
			m[k] = v
		}
		return m
	}
	tbl := enrich.NewMapTable(version(0))
	n := int64(50_000)
	if testing.Short() {
		n = 5_000
	}
	p := stream.New()
	s := stream.From(p, stream.Generate(n, func(i int64) stream.Record[int] { return stream.At(int(i), stream.Time(i)) }))
	type res struct{ key, ver int }
	e := enrich.Lookup(s, tbl, func(i int) int { return i % keys }, func(i, v int) res { return res{i % keys, v} }, enrich.Batch(64))
	var last atomic.Int64
	var checked atomic.Int64
	stream.To(e.Stream, stream.SinkFunc[res](func(_ context.Context, r stream.Record[res]) error {
		if int64(r.Value.ver) < last.Load() {
			return fmt.Errorf("version went back from %d to %d", last.Load(), r.Value.ver)
		}
		last.Store(int64(r.Value.ver))
		checked.Add(1)
		return nil
	}))
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for v := 1; ; v++ {
			select {
			case <-stop:
				return
			default:
				tbl.Swap(version(v))
			}
		}
	})
	err := p.Run(context.Background())
	close(stop)
	swaps.Wait()
	require.NoError(t, err)
	assert.Equal(t, n, checked.Load())
}

func TestMapTable(t *testing.T) {
	t.Parallel()
	var zero enrich.MapTable[string, int]
	_, ok, err := zero.Get(context.Background(), "x")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Zero(t, zero.Len())
	rows, found := make([]int, 2), []bool{true, true}
	require.NoError(t, zero.GetMany(context.Background(), []string{"x", "y"}, rows, found))
	assert.Equal(t, []bool{false, false}, found)

	tbl := enrich.NewMapTable(map[string]int{"x": 1, "y": 2})
	rows, found = make([]int, 3), make([]bool, 3)
	require.NoError(t, tbl.GetMany(context.Background(), []string{"y", "z", "x"}, rows, found))
	assert.Equal(t, []int{2, 0, 1}, rows)
	assert.Equal(t, []bool{true, false, true}, found)
	assert.Error(t, tbl.GetMany(context.Background(), []string{"y"}, rows, found), "mismatched lengths")
	assert.Nil(t, zero.Swap(nil))
	assert.Zero(t, zero.Len())
}
