package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// releaser holds every request made to it until a driver goroutine releases
// it, picking at random among the ones waiting: random latencies without
// sleeping, and a random completion order.
type releaser struct {
	mu      sync.Mutex
	waiting []chan struct{}
	ready   chan struct{}
	rng     *rand.Rand
}

func newReleaser(seed uint64) *releaser {
	return &releaser{ready: make(chan struct{}, 1), rng: rand.New(rand.NewPCG(seed, 1))}
}

// wait blocks until the driver releases this call, or ctx is done.
func (r *releaser) wait(ctx context.Context) error {
	ch := make(chan struct{})
	r.mu.Lock()
	r.waiting = append(r.waiting, ch)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drive releases waiting calls at random until stop is closed. Now and then
// it lets several pile up first, so completions are reordered widely.
func (r *releaser) drive(stop <-chan struct{}) {
	for {
		r.mu.Lock()
		n := len(r.waiting)
		if n > 0 && (n >= 8 || r.rng.IntN(3) == 0) {
			i := r.rng.IntN(n)
			ch := r.waiting[i]
			r.waiting[i] = r.waiting[n-1]
			r.waiting = r.waiting[:n-1]
			r.mu.Unlock()
			close(ch)
			continue
		}
		if n > 0 {
			// release the oldest, so nothing waits for a pile that never comes
			ch := r.waiting[0]
			r.waiting = r.waiting[1:]
			r.mu.Unlock()
			close(ch)
			continue
		}
		r.mu.Unlock()
		select {
		case <-r.ready:
		case <-stop:
			return
		}
	}
}

var errTransient = errors.New("transient")

// fate is what the brute-force reference says becomes of value v: its
// first failing attempts, and whether it is rejected.
type fate struct {
	fails  int // attempts that fail before one succeeds
	reject bool
}

func fateOf(v int) fate {
	h := uint64(v)*0x9e3779b97f4a7c15 + 12345
	h ^= h >> 29
	return fate{fails: int(h % 5), reject: v%17 == 0}
}

type asyncOut struct {
	V, Key int
}

func TestAsyncMatchesReference(t *testing.T) {
	t.Parallel()
	n := 1500
	if testing.Short() {
		n = 400
	}
	const attempts = 3
	seed := uint64(0)
	for _, unordered := range []bool{false, true} {
		for _, par := range []int{1, 3} {
			for _, capacity := range []int{1, 7, 100} {
				seed++
				seed := seed
				t.Run(fmt.Sprintf("unordered=%v/par=%d/capacity=%d", unordered, par, capacity), func(t *testing.T) {
					t.Parallel()
					rng := rand.New(rand.NewPCG(seed, 3))
					const disorder = 20
					in := make([]stream.Record[int], n)
					for i := range in {
						in[i] = stream.At(i, stream.Time(int64(i)*5+rng.Int64N(disorder+1)))
					}
					rel := newReleaser(seed)
					var mu sync.Mutex
					tries := map[int]int{}
					fn := func(ctx context.Context, v int) (asyncOut, error) {
						if err := rel.wait(ctx); err != nil {
							return asyncOut{}, err
						}
						mu.Lock()
						tries[v]++
						try := tries[v]
						mu.Unlock()
						f := fateOf(v)
						if f.reject {
							return asyncOut{}, stream.Rejectf("value %d", v)
						}
						if try <= f.fails {
							return asyncOut{}, errTransient
						}
						return asyncOut{V: v * 10, Key: v % 11}, nil
					}
					p := stream.New(stream.WithBatchSize(8))
					src := stream.From(p, stream.Records(in), stream.WithWatermarks(stream.BoundedOutOfOrderness[int](disorder)))
					s := src
					if par > 1 {
						s = stream.KeyBy(src, func(v int) int { return v % 11 }, stream.Parallelism(par)).Stream
					}
					opts := []stream.AsyncOption{stream.MaxInFlight(capacity), stream.DeadLetterFailed(),
						stream.RetryRequests(stream.Retry{Attempts: attempts}), stream.RequestTimeout(time.Hour)}
					if unordered {
						opts = append(opts, stream.Unordered())
					}
					res := stream.Async(s, fn, opts...)
					sink := streamtest.NewSink[asyncOut]()
					stream.To(res.Stream, sink)
					dead := stream.Collect[stream.DeadLetter[int]]()
					stream.To(res.DeadLetters(), dead)

					stop := make(chan struct{})
					var wg sync.WaitGroup
					wg.Add(1)
					go func() { defer wg.Done(); rel.drive(stop) }()
					err := p.Run(context.Background())
					close(stop)
					wg.Wait()
					require.NoError(t, err)

					// Brute force.
					var wantOut []asyncOut
					var wantDead []int
					for _, r := range in {
						f := fateOf(r.Value)
						if f.reject || f.fails >= attempts {
							wantDead = append(wantDead, r.Value)
						} else {
							wantOut = append(wantOut, asyncOut{V: r.Value * 10, Key: r.Value % 11})
						}
					}
					got := sink.Records()
					wmBefore := sink.WatermarkBefore()
					times := map[int]stream.Time{}
					for _, r := range in {
						times[r.Value] = r.Time
					}
					for i, r := range got {
						assert.Equal(t, times[r.Value.V/10], r.Time, "result keeps its record's time")
						assert.Greater(t, r.Time, wmBefore[i], "result %v overtaken by a watermark", r.Value)
					}
					gotVals := sink.Values()
					if !unordered {
						// Per key (per instance), results come in input order.
						perKey := func(vs []asyncOut) map[int][]int {
							m := map[int][]int{}
							for _, v := range vs {
								m[v.Key] = append(m[v.Key], v.V)
							}
							return m
						}
						assert.Equal(t, perKey(wantOut), perKey(gotVals))
						if par == 1 {
							assert.Equal(t, wantOut, gotVals, "ordered mode keeps the input order")
						}
					}
					sortOut := func(vs []asyncOut) { slices.SortFunc(vs, func(a, b asyncOut) int { return a.V - b.V }) }
					sortOut(wantOut)
					sortOut(gotVals)
					assert.Equal(t, wantOut, gotVals)
					var gotDead []int
					for _, d := range dead.Values() {
						gotDead = append(gotDead, d.Record.Value)
						assert.Equal(t, times[d.Record.Value], d.Record.Time)
						if fateOf(d.Record.Value).reject {
							var rej *stream.RejectError
							assert.False(t, errors.As(d.Err, &rej), "a dead letter carries the reason itself")
						} else {
							assert.ErrorIs(t, d.Err, errTransient)
						}
					}
					slices.Sort(gotDead)
					assert.Equal(t, wantDead, gotDead)
					if par == 1 {
						assert.Equal(t, wantOut, gotVals)
						require.Len(t, wmBefore, len(got))
					}
				})
			}
		}
	}
}

// TestAsyncWatermarkSegments checks Flink's rule exactly, in both modes: a
// result comes after the watermark that preceded its record and before the
// next one, so the last watermark before each result is the one its record
// arrived behind.
func TestAsyncWatermarkSegments(t *testing.T) {
	t.Parallel()
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(9, 9))
			var steps []streamtest.Step[int]
			behind := map[int]stream.Time{}
			wm := stream.MinTime
			for i := range 600 {
				if rng.IntN(4) == 0 {
					wm = stream.Time(i*10 - 1)
					steps = append(steps, streamtest.Watermark[int](wm))
				}
				steps = append(steps, streamtest.Rec(i, stream.Time(i*10+rng.IntN(10))))
				behind[i] = wm
			}
			rel := newReleaser(4)
			fn := func(ctx context.Context, v int) (int, error) { return v, rel.wait(ctx) }
			p := stream.New()
			opts := []stream.AsyncOption{stream.MaxInFlight(50)}
			if unordered {
				opts = append(opts, stream.Unordered())
			}
			res := stream.Async(stream.From[int](p, streamtest.NewScript(steps...)), fn, opts...)
			sink := streamtest.NewSink[int]()
			stream.To(res.Stream, sink)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); rel.drive(stop) }()
			err := p.Run(context.Background())
			close(stop)
			wg.Wait()
			require.NoError(t, err)
			got := sink.Values()
			require.Len(t, got, 600)
			for i, w := range sink.WatermarkBefore() {
				require.Equal(t, behind[got[i]], w, "result %d", got[i])
			}
			if !unordered {
				assert.True(t, slices.IsSorted(got))
			} else {
				assert.False(t, slices.IsSorted(got), "completions were reordered")
			}
			wms := sink.Watermarks()
			assert.Equal(t, stream.MaxTime, wms[len(wms)-1])
		})
	}
}

// hangFn hangs (until its context is done) on the attempts of a value that
// hangs[v] says, counting from 1, and returns v otherwise.
func hangFn(hangs map[int]int, tries *sync.Map) stream.AsyncFunc[int, int] {
	return func(ctx context.Context, v int) (int, error) {
		n, _ := tries.LoadOrStore(v, new(int))
		c := n.(*int)
		*c++ // one request per value at a time: no race
		if *c <= hangs[v] {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return v, nil
	}
}

func TestAsyncTimeoutRetryAndPolicy(t *testing.T) {
	t.Parallel()
	for _, deadLetter := range []bool{false, true} {
		t.Run(fmt.Sprintf("dead-letter=%v", deadLetter), func(t *testing.T) {
			t.Parallel()
			clk := streamtest.NewClock(time.Unix(0, 0))
			// 2 times out twice and then succeeds; 3 always times out.
			hangs := map[int]int{2: 2, 3: 100}
			var tries sync.Map
			p := stream.New(stream.WithClock(clk))
			opts := []stream.AsyncOption{stream.MaxInFlight(4), stream.RequestTimeout(5 * time.Second),
				stream.RetryRequests(stream.Retry{Attempts: 3, Initial: time.Second, Max: 10 * time.Second})}
			if deadLetter {
				opts = append(opts, stream.DeadLetterFailed())
			}
			res := stream.Async(stream.From(p, stream.Slice([]int{1, 2, 3, 4})), hangFn(hangs, &tries), append(opts, stream.Name("rpc"))...)
			out := stream.Collect[int]()
			stream.To(res.Stream, out)
			dead := stream.Collect[stream.DeadLetter[int]]()
			stream.To(res.DeadLetters(), dead)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); advancer(clk, stop) }()
			err := p.Run(context.Background())
			close(stop)
			<-done
			n3, _ := tries.Load(3)
			assert.Equal(t, 3, *n3.(*int), "3: every attempt times out")
			if !deadLetter {
				require.ErrorIs(t, err, stream.ErrRequestTimeout)
				var oe *stream.OperatorError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, "rpc", oe.Op)
				assert.Contains(t, err.Error(), "after 3 attempts")
				return
			}
			require.NoError(t, err)
			n2, _ := tries.Load(2)
			assert.Equal(t, 3, *n2.(*int), "2: two timeouts, then success")
			assert.Equal(t, []int{1, 2, 4}, out.Values())
			d := dead.Values()
			require.Len(t, d, 1)
			assert.Equal(t, 3, d[0].Record.Value)
			assert.Equal(t, "rpc", d[0].Operator)
			assert.ErrorIs(t, d[0].Err, stream.ErrRequestTimeout)
		})
	}
}

func TestAsyncFailures(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	cases := []struct {
		name string
		fn   stream.AsyncFunc[int, int]
		want error
	}{
		{"error fails the run", func(_ context.Context, v int) (int, error) {
			if v == 30 {
				return 0, boom
			}
			return v, nil
		}, boom},
		{"reject without dead-letter consumer", func(_ context.Context, v int) (int, error) {
			if v == 30 {
				return 0, stream.Rejectf("bad %d", v)
			}
			return v, nil
		}, stream.ErrNotConnected},
		{"panic", func(_ context.Context, v int) (int, error) {
			if v == 30 {
				panic("kaboom")
			}
			return v, nil
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			vals := make([]int, 100)
			for i := range vals {
				vals[i] = i
			}
			p := stream.New()
			res := stream.Async(stream.From(p, stream.Slice(vals)), c.fn, stream.MaxInFlight(8))
			stream.To(res.Stream, stream.Discard[int]())
			err := p.Run(context.Background())
			require.Error(t, err)
			var oe *stream.OperatorError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "source.async", oe.Op)
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			} else {
				var pe *stream.PanicError
				assert.ErrorAs(t, err, &pe)
			}
		})
	}
}

func TestAsyncInvalidOptions(t *testing.T) {
	t.Parallel()
	p := stream.New()
	s := stream.From(p, stream.Slice([]int{1}))
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	stream.To(stream.Async(s, fn, stream.MaxInFlight(0)).Stream, stream.Discard[int]())
	stream.To(stream.Async(s, fn, stream.RequestTimeout(-1)).Stream, stream.Discard[int]())
	stream.To(stream.Async(s, fn, stream.RetryRequests(stream.Retry{})).Stream, stream.Discard[int]())
	stream.To(stream.Async[int, int](s, nil).Stream, stream.Discard[int]())
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	for _, w := range []string{"max in flight", "negative async request timeout", "Attempts >= 1", "nil async function"} {
		assert.Contains(t, err.Error(), w)
	}
}

// TestAsyncCancelStopsWorkers cancels a run whose requests all hang: Run
// returns the context's error, and (goleak, in TestMain) no worker is left.
func TestAsyncCancelStopsWorkers(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 100)
	fn := func(ctx context.Context, v int) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	p := stream.New()
	res := stream.Async(stream.From(p, stream.Slice(make([]int, 50))), fn, stream.MaxInFlight(20))
	stream.To(res.Stream, stream.Discard[int]())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for range 20 {
		<-started
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// intSink collects ints, checkpoints them, and crashes the run when a
// checkpoint completes and crash says so.
type intSink struct {
	mu    sync.Mutex
	vals  []int
	crash func(id int64) bool
}

func (s *intSink) Write(_ context.Context, r stream.Record[int]) error {
	s.mu.Lock()
	s.vals = append(s.vals, r.Value)
	s.mu.Unlock()
	return nil
}

func (s *intSink) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(fmt.Sprint(s.vals)), nil
}

func (s *intSink) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = nil
	str := string(b)
	str = str[1 : len(str)-1]
	for _, f := range splitFields(str) {
		var v int
		if _, err := fmt.Sscan(f, &v); err != nil {
			return err
		}
		s.vals = append(s.vals, v)
	}
	return nil
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	return out
}

func (s *intSink) CheckpointComplete(_ context.Context, id int64) error {
	if s.crash != nil && s.crash(id) {
		return errCrash
	}
	return nil
}

// TestAsyncCheckpointWithRequestsInFlight crashes a run at a checkpoint
// taken while requests hang, and restores it: the requests are issued
// again and the output is exactly that of an uninterrupted run, in order.
func TestAsyncCheckpointWithRequestsInFlight(t *testing.T) {
	t.Parallel()
	const n = 2000
	recs := make([]stream.Record[int], n)
	for i := range recs {
		recs[i] = stream.At(i, stream.Time(i))
	}
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			t.Parallel()
			build := func(p *stream.Pipeline, src stream.Source[int], sink *intSink, hang func(int) bool) {
				s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int](0)))
				opts := []stream.AsyncOption{stream.MaxInFlight(n)}
				if unordered {
					opts = append(opts, stream.Unordered())
				}
				res := stream.Async(s, func(ctx context.Context, v int) (int, error) {
					if hang(v) {
						<-ctx.Done()
						return 0, ctx.Err()
					}
					return v * 3, nil
				}, opts...)
				stream.To(res.Stream, sink, stream.Name("ints"))
			}
			var want []int
			for i := range n {
				want = append(want, i*3)
			}
			store, err := stream.NewDirStore(t.TempDir())
			require.NoError(t, err)
			// Run 1: half the input; everything from n/4 on hangs. Once all
			// of those requests are out, the first checkpoint that completes
			// marks the next one, which is taken with them in flight: the
			// run crashes when that one completes.
			var mu sync.Mutex
			hanging, mark := 0, int64(0)
			crash := func(id int64) bool {
				mu.Lock()
				defer mu.Unlock()
				if hanging == n/4 && mark == 0 {
					mark = id
				}
				return mark != 0 && id > mark
			}
			p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
			held := streamtest.NewReplay(recs[:n/2])
			held.Hold = true
			build(p1, held, &intSink{crash: crash}, func(v int) bool {
				if v < n/4 {
					return false
				}
				mu.Lock()
				hanging++
				mu.Unlock()
				return true
			})
			require.ErrorIs(t, p1.Run(context.Background()), errCrash)
			cp, err := store.Latest(context.Background())
			require.NoError(t, err)
			require.NotNil(t, cp)
			require.Greater(t, len(cp.States["source.async/0"]), n/4, "requests were in flight at the checkpoint")

			// Run 2 restores and finishes; nothing hangs.
			out := &intSink{}
			p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
			build(p2, streamtest.NewReplay(recs), out, func(int) bool { return false })
			require.NoError(t, p2.Run(context.Background()))
			got := slices.Clone(out.vals)
			if unordered {
				slices.Sort(got)
			}
			assert.Equal(t, want, got)
		})
	}
}

// TestAsyncBounds: in ordered mode a request that hangs at the head does
// not stop the MaxInFlight requests behind it from being made — completed
// results wait, up to MaxInFlight of them — and at no time are more than
// MaxInFlight calls running.
func TestAsyncBounds(t *testing.T) {
	t.Parallel()
	const n, total = 5, 40
	release := make(chan struct{})
	var released atomic.Bool
	started := make(chan int, total)
	var mu sync.Mutex
	var running, maxRunning, beforeRelease int
	fn := func(ctx context.Context, v int) (int, error) {
		mu.Lock()
		running++
		maxRunning = max(maxRunning, running)
		if !released.Load() {
			beforeRelease++
		}
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		started <- v
		if v == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return v * 2, nil
	}
	vals := make([]int, total)
	for i := range vals {
		vals[i] = i
	}
	p := stream.New()
	res := stream.Async(stream.From(p, stream.Slice(vals)), fn, stream.MaxInFlight(n))
	out := stream.Collect[int]()
	stream.To(res.Stream, out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// The hung request and the 2n-1 after it (n-1 in flight beside it, n
	// completed and waiting) start while the head hangs.
	for range 2 * n {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("fewer than 2*MaxInFlight requests made while the head hangs")
		}
	}
	mu.Lock()
	released.Store(true)
	mu.Unlock()
	close(release)
	require.NoError(t, <-done)
	want := make([]int, total)
	for i := range want {
		want[i] = i * 2
	}
	assert.Equal(t, want, out.Values(), "results in input order")
	assert.Equal(t, 2*n, beforeRelease, "requests made while the head hung")
	assert.LessOrEqual(t, maxRunning, n, "calls running at once")
}
