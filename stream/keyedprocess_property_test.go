package stream_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// These tests run random keyed-state and timer programs through
// KeyedProcess and through a sequential brute-force reference, and compare
// each key's output. The restored runs crash after a checkpoint at one
// parallelism (1-4) and restore it at another.

// kcmd is one input record of a keyed program: an operation on key k's
// state, with an argument.
type kcmd struct {
	K   int
	Op  int
	Arg int64
}

// kstep is a record (at T) or a watermark (W, IsWM).
type kstep struct {
	Cmd  kcmd
	T    int64
	IsWM bool
	W    int64
}

// kstate is what the program does to the current key's state and timers:
// implemented by brook's handles and by the reference.
type kstate interface {
	count() (int64, bool)
	setCount(int64)
	clearCount()
	put(k int64, v int64)
	del(k int64)
	mapSum() (n int, sum int64)
	add(v int64)
	list() []int64
	clearList()
	register(t int64)
	unregister(t int64)
	// The TTL states, read and written at TTL time now (the reference
	// needs it; brook knows it): "fresh" lives ttlAfter after its last
	// write, "recent" ttlAfter after its last write or read.
	fresh(now int64) (int64, bool)
	setFresh(now, v int64)
	recent(now int64) (int64, bool)
	setRecent(now, v int64)
	clearTTL()
}

// ttlAfter is the time to live of the TTL states (ns of event time).
const ttlAfter = 40

// program handles a record of key k at t, emitting lines; now is the TTL
// time: t, or the watermark if that is later.
func program(s kstate, k int, t, now int64, c kcmd, emit func(string)) {
	switch c.Op {
	case 0: // count
		n, _ := s.count()
		s.setCount(n + c.Arg)
		emit(fmt.Sprintf("count %d", n+c.Arg))
	case 1: // timer after Arg
		s.register(t + c.Arg)
	case 2: // delete the timer a previous op 1 may have set
		s.unregister(t + c.Arg)
	case 3: // map
		s.put(c.Arg%4, t)
		n, sum := s.mapSum()
		emit(fmt.Sprintf("map %d %d", n, sum))
	case 4:
		s.del(c.Arg % 4)
		n, sum := s.mapSum()
		emit(fmt.Sprintf("map %d %d", n, sum))
	case 5: // list
		s.add(c.Arg)
		emit(fmt.Sprintf("list %v", s.list()))
	case 6: // clear all
		s.clearCount()
		s.clearList()
		for i := range int64(4) {
			s.del(i)
		}
		if c.Arg%3 == 0 {
			s.clearTTL()
		}
		if c.Arg%2 == 1 { // the key's slot freed and taken again in one call
			s.add(c.Arg)
		}
		emit(fmt.Sprintf("cleared %v", s.list()))
	case 7: // TTL, refreshed by writes
		n, ok := s.fresh(now)
		s.setFresh(now, n+c.Arg)
		emit(fmt.Sprintf("fresh %d %v", n, ok))
	case 8: // TTL, refreshed by reads too; written now and then
		n, ok := s.recent(now)
		if c.Arg%4 == 0 {
			s.setRecent(now, n+c.Arg)
		}
		emit(fmt.Sprintf("recent %d %v", n, ok))
	}
	_ = k
}

// onTimer handles the timer of key k at t; now is the TTL time: t, or the
// watermark before the one firing it if that is later.
func onTimer(s kstate, t, now int64, emit func(string)) {
	n, ok := s.count()
	ms, msum := s.mapSum()
	f, fok := s.fresh(now)
	emit(fmt.Sprintf("timer %d count %d %v map %d %d list %v fresh %d %v", t, n, ok, ms, msum, s.list(), f, fok))
	if t%2 == 0 {
		s.setFresh(now, f+1)
	}
	s.clearList()
	if n%3 == 1 && t < 500 {
		s.register(t + 7) // chains, some of them within the same watermark
		s.setCount(n + 1)
	}
}

// refState is the reference's state of one key.
type refState struct {
	cnt    int64
	hasCnt bool
	m      map[int64]int64
	l      []int64
	timers map[int64]bool
	fr, re ttlValue
}

// ttlValue is the reference's TTL value: live while now < exp.
type ttlValue struct {
	v, exp int64
	has    bool
}

func (tv *ttlValue) get(now int64, onRead bool) (int64, bool) {
	if !tv.has || now >= tv.exp {
		*tv = ttlValue{}
		return 0, false
	}
	if onRead {
		tv.exp = max(tv.exp, now+ttlAfter)
	}
	return tv.v, true
}

func (tv *ttlValue) set(now, v int64) {
	if !tv.has || now >= tv.exp {
		tv.exp = now + ttlAfter
	} else {
		tv.exp = max(tv.exp, now+ttlAfter)
	}
	tv.v, tv.has = v, true
}

func (r *refState) count() (int64, bool) { return r.cnt, r.hasCnt }
func (r *refState) setCount(v int64)     { r.cnt, r.hasCnt = v, true }
func (r *refState) clearCount()          { r.cnt, r.hasCnt = 0, false }
func (r *refState) put(k, v int64)       { r.m[k] = v }
func (r *refState) del(k int64)          { delete(r.m, k) }
func (r *refState) mapSum() (int, int64) {
	var s int64
	for _, v := range r.m {
		s += v
	}
	return len(r.m), s
}
func (r *refState) add(v int64)                    { r.l = append(r.l, v) }
func (r *refState) list() []int64                  { return r.l }
func (r *refState) clearList()                     { r.l = nil }
func (r *refState) register(t int64)               { r.timers[t] = true }
func (r *refState) unregister(t int64)             { delete(r.timers, t) }
func (r *refState) fresh(now int64) (int64, bool)  { return r.fr.get(now, false) }
func (r *refState) setFresh(now, v int64)          { r.fr.set(now, v) }
func (r *refState) recent(now int64) (int64, bool) { return r.re.get(now, true) }
func (r *refState) setRecent(now, v int64)         { r.re.set(now, v) }
func (r *refState) clearTTL()                      { r.fr, r.re = ttlValue{}, ttlValue{} }

// keyedReference runs the program sequentially, key by key: a key's timers
// fire in time order when a watermark reaches them, the end of input being
// the last watermark. TTL values are live while the TTL time is before
// their expiry.
func keyedReference(steps []kstep) map[int][]string {
	out := map[int][]string{}
	st := map[int]*refState{}
	get := func(k int) *refState {
		if st[k] == nil {
			st[k] = &refState{m: map[int64]int64{}, timers: map[int64]bool{}}
		}
		return st[k]
	}
	wm := int64(-1 << 63)
	advance := func(w int64) {
		if w <= wm {
			return
		}
		prev := wm
		wm = w
		for _, k := range slices.Sorted(maps.Keys(st)) {
			s := st[k]
			for {
				var due []int64
				for t := range s.timers {
					if t <= w {
						due = append(due, t)
					}
				}
				if len(due) == 0 {
					break
				}
				t := slices.Min(due)
				delete(s.timers, t)
				onTimer(s, t, max(t, prev), func(line string) { out[k] = append(out[k], line) })
			}
		}
	}
	for _, s := range steps {
		if s.IsWM {
			advance(s.W)
			continue
		}
		k := s.Cmd.K
		program(get(k), k, s.T, max(s.T, wm), s.Cmd, func(line string) { out[k] = append(out[k], line) })
	}
	advance(int64(stream.MaxTime))
	return out
}

// brookState adapts the operator's handles to kstate.
type brookState struct {
	c   *stream.KeyedContext[int]
	cnt *stream.ValueState[int64]
	m   *stream.MapState[int64, int64]
	l   *stream.ListState[int64]
	fr  *stream.ValueState[int64]
	re  *stream.ValueState[int64]
}

func (b *brookState) count() (int64, bool) { return b.cnt.Value() }
func (b *brookState) setCount(v int64)     { b.cnt.Update(v) }
func (b *brookState) clearCount()          { b.cnt.Clear() }
func (b *brookState) put(k, v int64)       { b.m.Put(k, v) }
func (b *brookState) del(k int64)          { b.m.Delete(k) }
func (b *brookState) mapSum() (int, int64) {
	var s int64
	for _, v := range b.m.All() {
		s += v
	}
	return b.m.Len(), s
}
func (b *brookState) add(v int64)                { b.l.Add(v) }
func (b *brookState) list() []int64              { return b.l.Get() }
func (b *brookState) clearList()                 { b.l.Clear() }
func (b *brookState) register(t int64)           { b.c.RegisterEventTimer(stream.Time(t)) }
func (b *brookState) unregister(t int64)         { b.c.DeleteEventTimer(stream.Time(t)) }
func (b *brookState) fresh(int64) (int64, bool)  { return b.fr.Value() }
func (b *brookState) setFresh(_, v int64)        { b.fr.Update(v) }
func (b *brookState) recent(int64) (int64, bool) { return b.re.Value() }
func (b *brookState) setRecent(_, v int64)       { b.re.Update(v) }
func (b *brookState) clearTTL()                  { b.fr.Clear(); b.re.Clear() }

// keyedLine is one output line of key K.
type keyedLine struct {
	K    int
	Line string
}

func keyedProgram(st *stream.KeyedStates) stream.KeyedFuncs[int, kcmd, keyedLine] {
	b := &brookState{
		cnt: stream.NewValueState[int64](st, "count"),
		m:   stream.NewMapState[int64, int64](st, "map"),
		l:   stream.NewListState[int64](st, "list"),
		fr:  stream.NewValueState(st, "fresh", stream.StateTTL[int64](stream.TTL{After: ttlAfter})),
		re:  stream.NewValueState(st, "recent", stream.StateTTL[int64](stream.TTL{After: ttlAfter, OnRead: true})),
	}
	return stream.KeyedFuncs[int, kcmd, keyedLine]{
		Process: func(c *stream.KeyedContext[int], r stream.Record[kcmd], out stream.Emitter[keyedLine]) error {
			b.c = c
			var err error
			program(b, c.Key(), int64(r.Time), 0, r.Value, func(line string) {
				if err == nil {
					err = out.Emit(stream.At(keyedLine{K: c.Key(), Line: line}, r.Time))
				}
			})
			return err
		},
		OnTimer: func(c *stream.KeyedContext[int], t stream.Timer, out stream.Emitter[keyedLine]) error {
			b.c = c
			var err error
			onTimer(b, int64(t.Time), 0, func(line string) {
				if err == nil {
					err = out.Emit(stream.At(keyedLine{K: c.Key(), Line: line}, t.Time))
				}
			})
			return err
		},
	}
}

// keyedSource emits the steps, flushing after each watermark so that every
// instance sees it right after the records before it. With hold set it does
// not end after its last step but keeps flushing (so barriers pass) until
// the run fails.
type keyedSource struct {
	steps []kstep
	pos   int64
	hold  bool
}

func (s *keyedSource) Run(ctx context.Context, out stream.SourceOutput[kcmd]) error {
	for s.pos < int64(len(s.steps)) {
		st := s.steps[s.pos]
		s.pos++ // consumed before Emit: a barrier may be injected inside it
		var err error
		if st.IsWM {
			if err = out.EmitWatermark(stream.Time(st.W)); err == nil {
				err = out.Flush()
			}
		} else {
			err = out.Emit(stream.At(st.Cmd, stream.Time(st.T)))
		}
		if err != nil {
			return err
		}
	}
	for s.hold {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *keyedSource) Snapshot() ([]byte, error) { return strconv.AppendInt(nil, s.pos, 10), nil }

func (s *keyedSource) Restore(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 || v > int64(len(s.steps)) {
		return fmt.Errorf("%w: position %q", stream.ErrCorruptCheckpoint, b)
	}
	s.pos = v
	return nil
}

// lineSink collects lines and checkpoints them; with failAt set it fails
// once checkpoint failAt is complete (the crash).
type lineSink struct {
	mu     sync.Mutex
	lines  []keyedLine
	failAt int64
}

func (s *lineSink) Write(_ context.Context, r stream.Record[keyedLine]) error {
	s.mu.Lock()
	s.lines = append(s.lines, r.Value)
	s.mu.Unlock()
	return nil
}

func (s *lineSink) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(s.lines)
	return buf.Bytes(), err
}

func (s *lineSink) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = nil
	return gob.NewDecoder(bytes.NewReader(b)).Decode(&s.lines)
}

func (s *lineSink) CheckpointComplete(_ context.Context, id int64) error {
	if s.failAt != 0 && id >= s.failAt {
		return errCrash
	}
	return nil
}

func (s *lineSink) byKey() map[int][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int][]string{}
	for _, l := range s.lines {
		out[l.K] = append(out[l.K], l.Line)
	}
	return out
}

func genKeyedSteps(rng *rand.Rand) []kstep {
	keys := 1 + rng.IntN(12)
	n := 20 + rng.IntN(200)
	var steps []kstep
	t, wm := int64(0), int64(-1)
	for range n {
		if rng.IntN(6) == 0 {
			wm = t - rng.Int64N(20) // a watermark behind the records seen: some are late for it
			steps = append(steps, kstep{IsWM: true, W: wm})
			continue
		}
		t += rng.Int64N(6)
		rt := t - rng.Int64N(10) // out of order, some behind the watermark
		steps = append(steps, kstep{T: rt, Cmd: kcmd{K: rng.IntN(keys), Op: rng.IntN(9), Arg: 1 + rng.Int64N(30)}})
	}
	return steps
}

// keyedBackend is where runKeyed keeps the keyed state.
type keyedBackend int

const (
	inMemory      keyedBackend = iota
	storePipeline              // a bytesStore, chosen for the pipeline
	storeOperator              // a bytesStore, chosen for the operator
)

func (b keyedBackend) String() string { return [...]string{"memory", "store", "store-op"}[b] }

// bytesStore is a StateStore of byte strings in maps: the smallest store a
// disk or remote one could be, proving the interface is enough.
type bytesStore struct {
	info     stream.StoreInfo
	groups   map[int]map[string][]byte
	closed   *bool
	spurious int // deletes of keys that were not there
}

func (s *bytesStore) check(g int) {
	if !s.info.KeyGroups.Contains(g) {
		panic(fmt.Sprintf("key group %d given to instance %d of %v", g, s.info.Instance, s.info.KeyGroups))
	}
}

func (s *bytesStore) Get(g int, key []byte) ([]byte, bool, error) {
	s.check(g)
	v, ok := s.groups[g][string(key)]
	return v, ok, nil
}

func (s *bytesStore) Put(g int, key, value []byte) error {
	s.check(g)
	if s.groups[g] == nil {
		s.groups[g] = map[string][]byte{}
	}
	s.groups[g][string(key)] = bytes.Clone(value)
	return nil
}

func (s *bytesStore) Delete(g int, key []byte) error {
	s.check(g)
	if _, ok := s.groups[g][string(key)]; !ok {
		s.spurious++
	}
	delete(s.groups[g], string(key))
	return nil
}

func (s *bytesStore) Scan(g int, fn func(key, value []byte) error) error {
	s.check(g)
	for k, v := range s.groups[g] {
		if err := fn([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *bytesStore) Close() error {
	*s.closed = true
	return nil
}

// bytesStores opens a bytesStore per instance and checks, at the end, that
// each was closed.
func bytesStores(t testing.TB) stream.StateBackend {
	var mu sync.Mutex
	var stores []*bytesStore
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for i, s := range stores {
			assert.True(t, *s.closed, "store %d closed", i)
			assert.Zero(t, s.spurious, "store %d: deletes of keys the operator never stored", i)
		}
	})
	return stream.StoredIn(func(info stream.StoreInfo) (stream.StateStore, error) {
		if info.Operator != "program" || info.KeyGroups != stream.KeyGroupRangeOf(info.Instance, info.Parallelism, info.MaxParallelism) {
			return nil, fmt.Errorf("store opened for %+v", info)
		}
		mu.Lock()
		defer mu.Unlock()
		s := &bytesStore{info: info, groups: map[int]map[string][]byte{}, closed: new(bool)}
		stores = append(stores, s)
		return s, nil
	})
}

// runKeyed runs steps through KeyedProcess at parallelism par.
func runKeyed(t testing.TB, store stream.CheckpointStore, src *keyedSource, par int, backend keyedBackend, interval time.Duration, sink *lineSink) error {
	opts := []stream.Option{stream.WithBatchSize(4), stream.WithMaxParallelism(16)}
	if store != nil {
		opts = append(opts, stream.WithCheckpoints(store, interval))
	}
	var opOpts []stream.OperatorOption
	switch backend {
	case storePipeline:
		opts = append(opts, stream.WithStateBackend(bytesStores(t)))
	case storeOperator:
		// The operator's choice wins over the pipeline's.
		opts = append(opts, stream.WithStateBackend(stream.StoredIn(func(stream.StoreInfo) (stream.StateStore, error) {
			return nil, errors.New("the pipeline's backend used")
		})))
		opOpts = append(opOpts, stream.StateIn(bytesStores(t)))
	}
	p := stream.New(opts...)
	in := stream.From[kcmd](p, src)
	k := stream.KeyBy(in, func(c kcmd) int { return c.K }, stream.Parallelism(par))
	stream.To(stream.KeyedProcess(k, keyedProgram, append(opOpts, stream.Name("program"))...), sink)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Run(ctx)
}

func keyedSeed(t *testing.T) *rand.Rand {
	seed := rand.Uint64()
	if s := os.Getenv("KEYED_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (KEYED_SEED reruns it)", seed)
	return rand.New(rand.NewPCG(seed, 12))
}

func dumpKeyed(steps []kstep) string {
	var b strings.Builder
	for _, s := range steps {
		if s.IsWM {
			fmt.Fprintf(&b, "wm(%d) ", s.W)
		} else {
			fmt.Fprintf(&b, "%d@%d:op%d(%d) ", s.Cmd.K, s.T, s.Cmd.Op, s.Cmd.Arg)
		}
	}
	return b.String()
}

func TestKeyedProcessMatchesReference(t *testing.T) {
	t.Parallel()
	rng := keyedSeed(t)
	for c := range 30 {
		steps := genKeyedSteps(rng)
		par := 1 + rng.IntN(4)
		backend := keyedBackend(c % 3)
		t.Run(fmt.Sprintf("%d/par=%d/%v", c, par, backend), func(t *testing.T) {
			t.Parallel()
			sink := &lineSink{}
			require.NoError(t, runKeyed(t, nil, &keyedSource{steps: steps}, par, backend, 0, sink))
			require.Equal(t, keyedReference(steps), sink.byKey(), "input: %s", dumpKeyed(steps))
		})
	}
}

func TestKeyedProcessRestoresAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	cases := 30
	if testing.Short() {
		cases = 10
	}
	rng := keyedSeed(t)
	for c := range cases {
		steps := genKeyedSteps(rng)
		par1, par2 := 1+rng.IntN(4), 1+rng.IntN(4)
		// Any backend to any: the checkpoint's format is the same.
		b1, b2 := keyedBackend(rng.IntN(3)), keyedBackend(rng.IntN(3))
		cut := 1 + rng.IntN(len(steps)-1)
		t.Run(fmt.Sprintf("%d/%d-%v-to-%d-%v", c, par1, b1, par2, b2), func(t *testing.T) {
			t.Parallel()
			store, err := stream.NewDirStore(t.TempDir())
			require.NoError(t, err)
			err = runKeyed(t, store, &keyedSource{steps: steps[:cut], hold: true}, par1, b1, time.Millisecond, &lineSink{failAt: 3})
			require.ErrorIs(t, err, errCrash)
			sink := &lineSink{}
			require.NoError(t, runKeyed(t, store, &keyedSource{steps: steps}, par2, b2, time.Hour, sink))
			require.Equal(t, keyedReference(steps), sink.byKey(), "cut=%d input: %s", cut, dumpKeyed(steps))
		})
	}
}
