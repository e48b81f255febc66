package stream_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// bcOrder is a main-input record of the broadcast tests; bcRule a broadcast
// one: set rule Key to Val, or delete it when Val < 0.
type bcOrder struct{ ID, Key int }
type bcRule struct{ ID, Key, Val int }

// versionKey holds, in the broadcast state, the number of rules applied.
const versionKey = -1

// bcOut is an output of the broadcast tests: for an order, the rule value
// it saw (-1: none) and the state's version; for a rule (Rule true), which
// rule an instance applied as its Version-th.
type bcOut struct {
	Rule              bool
	Inst, ID, Version int
	Result            int
}

func applyRule(st *stream.BroadcastState[int, int], r bcRule) {
	if r.Val < 0 {
		st.Delete(r.Key)
	} else {
		st.Put(r.Key, r.Val)
	}
	v, _ := st.Get(versionKey)
	st.Put(versionKey, v+1)
}

// onRule and onOrder are the functions of the broadcast operator under test.
func onRule(c *stream.Context, r stream.Record[bcRule], st *stream.BroadcastState[int, int], out stream.Emitter[bcOut]) error {
	applyRule(st, r.Value)
	v, _ := st.Get(versionKey)
	return out.Emit(stream.At(bcOut{Rule: true, Inst: c.Instance(), ID: r.Value.ID, Version: v}, r.Time))
}

func onOrder(c *stream.Context, r stream.Record[bcOrder], st stream.BroadcastView[int, int], out stream.Emitter[bcOut]) error {
	res, ok := st.Get(r.Value.Key)
	if !ok {
		res = -1
	}
	v, _ := st.Get(versionKey)
	return out.Emit(stream.At(bcOut{Inst: c.Instance(), ID: r.Value.ID, Version: v, Result: res}, r.Time))
}

// refRuleStates is the sequential reference: the rule map after each prefix
// of rules (states[n]: after the first n).
func refRuleStates(rules []bcRule) []map[int]int {
	states := []map[int]int{{}}
	for _, r := range rules {
		m := map[int]int{}
		for k, v := range states[len(states)-1] {
			m[k] = v
		}
		if r.Val < 0 {
			delete(m, r.Key)
		} else {
			m[r.Key] = r.Val
		}
		states = append(states, m)
	}
	return states
}

// chunkySource emits recs in random chunks, flushing and yielding between
// them, so the two inputs interleave differently from run to run.
func chunkySource[T any](seed uint64, recs []stream.Record[T]) stream.Source[T] {
	return stream.SourceFunc[T](func(_ context.Context, out stream.SourceOutput[T]) error {
		rng := rand.New(rand.NewPCG(seed, 3))
		for i := 0; i < len(recs); {
			for n := 1 + rng.IntN(20); n > 0 && i < len(recs); n-- {
				if err := out.Emit(recs[i]); err != nil {
					return err
				}
				i++
			}
			if err := out.Flush(); err != nil {
				return err
			}
			for range rng.IntN(3) {
				runtime.Gosched()
			}
		}
		return nil
	})
}

// checkBroadcastRun checks the output of a broadcast run against the
// sequential reference: every instance applied every rule once, in order;
// every order came out once, with the rule value of the state version it
// reports, and versions never went back on an instance.
func checkBroadcastRun(t *testing.T, outs []bcOut, rules []bcRule, nOrders, par int) {
	t.Helper()
	states := refRuleStates(rules)
	applied := make([][]int, par)
	lastVersion := make([]int, par)
	seen := make([]int, nOrders)
	for _, o := range outs {
		require.Less(t, o.Inst, par)
		if o.Rule {
			applied[o.Inst] = append(applied[o.Inst], o.ID)
			assert.Equal(t, len(applied[o.Inst]), o.Version, "instance %d: rule %d applied as version %d", o.Inst, o.ID, o.Version)
			lastVersion[o.Inst] = o.Version
			continue
		}
		seen[o.ID]++
		require.LessOrEqual(t, o.Version, len(rules))
		assert.GreaterOrEqual(t, o.Version, lastVersion[o.Inst], "order %d: state went back on instance %d", o.ID, o.Inst)
		want, ok := states[o.Version][o.ID%7]
		if !ok {
			want = -1
		}
		assert.Equal(t, want, o.Result, "order %d at version %d", o.ID, o.Version)
	}
	ids := make([]int, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	for i := range par {
		assert.Equal(t, ids, applied[i], "instance %d applied other rules or in another order", i)
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "order %d came out %d times", id, n)
	}
}

func genBroadcastInput(rng *rand.Rand, nOrders, nRules int) ([]stream.Record[bcOrder], []bcRule, []stream.Record[bcRule]) {
	orders := make([]stream.Record[bcOrder], nOrders)
	for i := range orders {
		orders[i] = stream.At(bcOrder{ID: i, Key: i % 7}, stream.Time(i))
	}
	rules := make([]bcRule, nRules)
	recs := make([]stream.Record[bcRule], nRules)
	for i := range rules {
		val := rng.IntN(100)
		if rng.IntN(4) == 0 {
			val = -1
		}
		rules[i] = bcRule{ID: 1000 + i, Key: rng.IntN(7), Val: val}
		recs[i] = stream.At(rules[i], stream.Time(i*nOrders/nRules))
	}
	return orders, rules, recs
}

func TestBroadcastMatchesSequentialReference(t *testing.T) {
	t.Parallel()
	seed := uint64(0)
	for _, keyed := range []bool{false, true} {
		for _, par := range []int{1, 2, 4} {
			for rep := range 3 {
				seed++
				seed := seed
				t.Run(fmt.Sprintf("keyed=%v/par=%d/%d", keyed, par, rep), func(t *testing.T) {
					t.Parallel()
					rng := rand.New(rand.NewPCG(seed, 11))
					orders, rules, ruleRecs := genBroadcastInput(rng, 600, 40+rng.IntN(40))
					p := stream.New(stream.WithParallelism(par), stream.WithBatchSize(1+rng.IntN(16)))
					wm := stream.WithWatermarks(stream.BoundedOutOfOrderness[bcOrder](0))
					os := stream.From(p, chunkySource(seed, orders), wm)
					rs := stream.From(p, chunkySource(seed+100, ruleRecs), stream.WithWatermarks(stream.BoundedOutOfOrderness[bcRule](0)))
					groups := map[int]int{} // key -> instance, keyed only
					var mu sync.Mutex
					var out stream.Broadcasted[bcOrder, bcRule, bcOut]
					if keyed {
						out = stream.ProcessKeyedBroadcast(os, func(o bcOrder) int { return o.Key }, rs,
							func(c *stream.Context, key int, r stream.Record[bcOrder], st stream.BroadcastView[int, int], emit stream.Emitter[bcOut]) error {
								mu.Lock()
								if inst, ok := groups[key]; ok && inst != c.Instance() {
									mu.Unlock()
									return fmt.Errorf("key %d at instances %d and %d", key, inst, c.Instance())
								}
								groups[key] = c.Instance()
								mu.Unlock()
								if key != r.Value.Key {
									return fmt.Errorf("key %d for order %v", key, r.Value)
								}
								return onOrder(c, r, st, emit)
							}, onRule)
					} else {
						// A parallel main input (after a rebalance) keeps its
						// instances; the rules come from one source.
						out = stream.ProcessBroadcast(stream.Rebalance(os), rs, onOrder, onRule)
					}
					sink := stream.Collect[bcOut]()
					stream.To(out.Stream, sink)
					require.NoError(t, p.Run(context.Background()))
					checkBroadcastRun(t, sink.Values(), rules, len(orders), par)
				})
			}
		}
	}
}

// A parallel broadcast stream is merged first: instances still agree on one
// order of its records.
func TestBroadcastParallelBroadcastInput(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	orders, rules, ruleRecs := genBroadcastInput(rng, 300, 60)
	p := stream.New(stream.WithParallelism(3))
	os := stream.From(p, stream.Records(orders))
	rs := stream.Rebalance(stream.From(p, stream.Records(ruleRecs))) // 3 instances
	out := stream.ProcessBroadcast(stream.Rebalance(os), rs, onOrder, onRule)
	sink := stream.Collect[bcOut]()
	stream.To(out.Stream, sink)
	require.NoError(t, p.Run(context.Background()))
	// The merged order is not the rules' order: check that all instances
	// agree on one, and the orders against it.
	outs := sink.Values()
	var order []int
	for _, o := range outs {
		if o.Rule && o.Inst == 0 {
			order = append(order, o.ID)
		}
	}
	require.Len(t, order, len(rules))
	merged := make([]bcRule, len(order))
	for i, id := range order {
		merged[i] = rules[id-1000]
	}
	checkBroadcastRun(t, outs, merged, len(orders), 3)
}

// bcSink collects outputs, checkpoints them, and crashes when crash says so
// after a checkpoint completes.
type bcSink struct {
	mu    sync.Mutex
	vals  []bcOut
	crash func(id int64, vals []bcOut) bool
}

func (s *bcSink) Write(_ context.Context, r stream.Record[bcOut]) error {
	s.mu.Lock()
	s.vals = append(s.vals, r.Value)
	s.mu.Unlock()
	return nil
}

func (s *bcSink) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(s.vals)
	return buf.Bytes(), err
}

func (s *bcSink) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = nil
	return gob.NewDecoder(bytes.NewReader(b)).Decode(&s.vals)
}

func (s *bcSink) CheckpointComplete(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crash != nil && s.crash(id, s.vals) {
		return errCrash
	}
	return nil
}

// TestBroadcastRestoreAtAnotherParallelism crashes a run after it has
// applied some of the rules and handled half the orders, and restores it at
// another parallelism: every new instance starts from the restored rules
// (else the orders it handles would not match the state version they
// report), applies the remaining ones in order, and every order comes out
// exactly once.
func TestBroadcastRestoreAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		keyed    bool
		from, to int
	}{{false, 2, 2}, {false, 2, 3}, {false, 3, 1}, {true, 2, 3}, {true, 4, 2}} {
		t.Run(fmt.Sprintf("keyed=%v/%d->%d", c.keyed, c.from, c.to), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(c.from*10+c.to), 1))
			orders, rules, ruleRecs := genBroadcastInput(rng, 2000, 100)
			build := func(p *stream.Pipeline, par int, os *streamtest.Replay[bcOrder], rs *streamtest.Replay[bcRule], sink *bcSink) {
				o := stream.From(p, os, stream.WithWatermarks(stream.BoundedOutOfOrderness[bcOrder](0)), stream.Name("orders"))
				r := stream.From(p, rs, stream.WithWatermarks(stream.BoundedOutOfOrderness[bcRule](0)), stream.Name("rules"))
				opts := []stream.BroadcastOption{stream.Name("apply"), stream.BroadcastExchange(stream.Parallelism(par), stream.BatchSize(8))}
				var out stream.Broadcasted[bcOrder, bcRule, bcOut]
				if c.keyed {
					out = stream.ProcessKeyedBroadcast(o, func(o bcOrder) int { return o.Key }, r,
						func(ctx *stream.Context, _ int, rec stream.Record[bcOrder], st stream.BroadcastView[int, int], emit stream.Emitter[bcOut]) error {
							return onOrder(ctx, rec, st, emit)
						}, onRule, opts...)
				} else {
					out = stream.ProcessBroadcast(o, r, onOrder, onRule, opts...)
				}
				stream.To(out.Stream, sink, stream.Name("sink"))
			}
			store, err := stream.NewDirStore(t.TempDir())
			require.NoError(t, err)
			// Run 1: half the rules and half the orders, held open; crash
			// at the first checkpoint completed after every instance has
			// applied them all.
			p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
			os1 := streamtest.NewReplay(orders[:len(orders)/2])
			os1.Hold = true
			rs1 := streamtest.NewReplay(ruleRecs[:len(ruleRecs)/2])
			rs1.Hold = true
			mark := int64(0)
			build(p1, c.from, os1, rs1, &bcSink{crash: func(id int64, vals []bcOut) bool {
				if mark == 0 {
					n := 0
					for _, v := range vals {
						if v.Rule {
							n++
						}
					}
					if n == c.from*len(rules)/2 {
						mark = id
					}
				}
				return mark != 0 && id > mark
			}})
			require.ErrorIs(t, p1.Run(context.Background()), errCrash)
			cp, err := store.Latest(context.Background())
			require.NoError(t, err)
			require.NotNil(t, cp)
			require.NotEmpty(t, cp.States["apply/0"], "broadcast state in the checkpoint")

			// Run 2: restore at the other parallelism, the whole input.
			sink := &bcSink{}
			p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
			build(p2, c.to, streamtest.NewReplay(orders), streamtest.NewReplay(ruleRecs), sink)
			require.NoError(t, p2.Run(context.Background()))

			// The restored part of the output comes from the old instances;
			// check the new run's part against the reference, with its
			// instances starting from the restored version.
			var restored, fresh []bcOut
			restoredSink := &bcSink{}
			require.NoError(t, restoredSink.Restore(mustSinkState(t, cp)))
			restored = restoredSink.vals
			fresh = sink.vals[len(restored):]
			assert.Equal(t, restored, sink.vals[:len(restored)])
			rulesBefore := 0
			for _, v := range restored {
				if v.Rule && v.Inst == 0 {
					rulesBefore++
				}
			}
			require.Positive(t, rulesBefore)
			// Every new instance applies exactly the rules after the
			// restored ones, as versions rulesBefore+1, ...
			states := refRuleStates(rules)
			applied := make([][]int, c.to)
			seen := map[int]int{}
			for _, v := range restored {
				if !v.Rule {
					seen[v.ID]++
				}
			}
			for _, v := range fresh {
				if v.Rule {
					applied[v.Inst] = append(applied[v.Inst], v.ID)
					assert.Equal(t, rulesBefore+len(applied[v.Inst]), v.Version)
					continue
				}
				seen[v.ID]++
				require.GreaterOrEqual(t, v.Version, rulesBefore, "order %d handled without the restored rules", v.ID)
				want, ok := states[v.Version][v.ID%7]
				if !ok {
					want = -1
				}
				assert.Equal(t, want, v.Result, "order %d at version %d", v.ID, v.Version)
			}
			var rest []int
			for _, r := range rules[rulesBefore:] {
				rest = append(rest, r.ID)
			}
			for i := range c.to {
				assert.Equal(t, rest, applied[i], "instance %d", i)
			}
			for id := range orders {
				assert.Equal(t, 1, seen[id], "order %d", id)
			}
		})
	}
}

func mustSinkState(t *testing.T, cp *stream.Checkpoint) []byte {
	t.Helper()
	b, ok := cp.States["sink/0"]
	require.True(t, ok)
	// The runtime prefixes the instance's state with its watermark (a
	// varint).
	_, n := binary.Varint(b)
	require.Positive(t, n)
	return b[n:]
}

// bcWmSink passes the watermarks it sees to a channel.
type bcWmSink struct{ wms chan stream.Time }

func (s bcWmSink) Write(context.Context, stream.Record[bcOut]) error { return nil }

func (s bcWmSink) WriteWatermark(ctx context.Context, w stream.Time) error {
	select {
	case s.wms <- w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBroadcastWatermarkIsMinimumOfInputs: the operator's watermark waits
// for the broadcast input, and passes it once that input is idle.
func TestBroadcastWatermarkIsMinimumOfInputs(t *testing.T) {
	t.Parallel()
	idle, release := make(chan struct{}), make(chan struct{})
	orders := streamtest.NewScript(
		streamtest.Rec(bcOrder{ID: 0, Key: 1}, 100),
		streamtest.Watermark[bcOrder](500),
		streamtest.WaitFor[bcOrder](release),
	)
	rules := streamtest.NewScript(
		streamtest.Rec(bcRule{ID: 1000, Key: 1, Val: 5}, 10),
		streamtest.Watermark[bcRule](50),
		streamtest.WaitFor[bcRule](idle),
		streamtest.Idle[bcRule](),
		streamtest.WaitFor[bcRule](release),
	)
	p := stream.New(stream.WithParallelism(2))
	out := stream.ProcessBroadcast(stream.From[bcOrder](p, orders), stream.From[bcRule](p, rules), onOrder, onRule)
	sink := bcWmSink{wms: make(chan stream.Time, 100)}
	stream.To(out.Stream, sink)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	await := func(at stream.Time) stream.Time {
		for {
			select {
			case w := <-sink.wms:
				if w >= at {
					return w
				}
			case <-ctx.Done():
				t.Fatalf("no watermark >= %d", at)
			}
		}
	}
	assert.Equal(t, stream.Time(50), await(50), "the broadcast input holds the watermark at 50")
	close(idle)
	assert.Equal(t, stream.Time(500), await(51), "an idle broadcast input no longer holds it")
	close(release)
	require.NoError(t, <-done)
}

var errBadRule = errors.New("bad rule")

// Rejected broadcast records are dead letters once, not once per instance;
// rejected main records are dead letters too.
func TestBroadcastDeadLetters(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(3))
	os := stream.From(p, stream.Records([]stream.Record[bcOrder]{stream.At(bcOrder{ID: 1, Key: 1}, 10), stream.At(bcOrder{ID: 2, Key: 99}, 20)}))
	rs := stream.From(p, stream.Records([]stream.Record[bcRule]{stream.At(bcRule{ID: 1000, Key: 1, Val: 5}, 1), stream.At(bcRule{ID: 1001, Key: 2, Val: -7}, 2)}))
	out := stream.ProcessBroadcast(stream.Rebalance(os), rs,
		func(c *stream.Context, r stream.Record[bcOrder], st stream.BroadcastView[int, int], emit stream.Emitter[bcOut]) error {
			if r.Value.Key > 10 {
				return stream.Rejectf("key %d out of range", r.Value.Key)
			}
			return nil
		},
		func(c *stream.Context, r stream.Record[bcRule], st *stream.BroadcastState[int, int], emit stream.Emitter[bcOut]) error {
			if r.Value.Val < -1 {
				return stream.Reject(errBadRule)
			}
			st.Put(r.Value.Key, r.Value.Val)
			return nil
		})
	stream.To(out.Stream, stream.Discard[bcOut]())
	dead := stream.Collect[stream.DeadLetter[bcOrder]]()
	deadRules := stream.Collect[stream.DeadLetter[bcRule]]()
	stream.To(out.DeadLetters(), dead)
	stream.To(out.BroadcastDeadLetters(), deadRules)
	require.NoError(t, p.Run(context.Background()))
	require.Len(t, dead.Values(), 1)
	assert.Equal(t, 2, dead.Values()[0].Record.Value.ID)
	require.Len(t, deadRules.Values(), 1, "one dead letter for the rule, not one per instance")
	assert.Equal(t, 1001, deadRules.Values()[0].Record.Value.ID)
	assert.ErrorIs(t, deadRules.Values()[0].Err, errBadRule)
}

// Without a consumer of the dead letters, a rejected broadcast record fails
// the run.
func TestBroadcastUnconsumedDeadLettersFail(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(2))
	os := stream.From(p, stream.Records([]stream.Record[bcOrder]{stream.At(bcOrder{ID: 1}, 10)}))
	rs := stream.From(p, stream.Records([]stream.Record[bcRule]{stream.At(bcRule{ID: 1000, Val: -7}, 1)}))
	out := stream.ProcessBroadcast(os, rs, onOrder,
		func(c *stream.Context, r stream.Record[bcRule], st *stream.BroadcastState[int, int], emit stream.Emitter[bcOut]) error {
			return stream.Reject(errBadRule)
		})
	stream.To(out.Stream, stream.Discard[bcOut]())
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrNotConnected)
	assert.ErrorIs(t, err, errBadRule)
}

func TestBroadcastInvalid(t *testing.T) {
	t.Parallel()
	p := stream.New()
	os := stream.From(p, stream.Records([]stream.Record[bcOrder]{stream.At(bcOrder{}, 1)}))
	rs := stream.From(p, stream.Records([]stream.Record[bcRule]{stream.At(bcRule{}, 1)}))
	out := stream.ProcessBroadcast[bcOrder, bcRule, int, int, bcOut](os, rs, nil, onRule)
	stream.To(out.Stream, stream.Discard[bcOut]())
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}
