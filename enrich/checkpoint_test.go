package enrich_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

var errCrash = errors.New("simulated crash")

// listSink collects records, checkpoints them, and fails right after
// checkpoint failAt completes (a crash).
type listSink[T any] struct {
	mu     sync.Mutex
	vals   []stream.Record[T]
	failAt int64
}

func (s *listSink[T]) Write(_ context.Context, r stream.Record[T]) error {
	s.mu.Lock()
	s.vals = append(s.vals, r)
	s.mu.Unlock()
	return nil
}

func (s *listSink[T]) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(s.vals)
	return buf.Bytes(), err
}

func (s *listSink[T]) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = nil
	return gob.NewDecoder(bytes.NewReader(b)).Decode(&s.vals)
}

func (s *listSink[T]) CheckpointComplete(_ context.Context, id int64) error {
	if s.failAt != 0 && id >= s.failAt {
		return errCrash
	}
	return nil
}

func (s *listSink[T]) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.vals))
	for i, r := range s.vals {
		out[i] = fmt.Sprintf("%v@%d", r.Value, r.Time)
	}
	slices.Sort(out)
	return out
}

// crashAndRestore runs build uninterrupted, then in a run that crashes
// after checkpoint 3 with only the first half of the input, and in a run
// that restores that checkpoint and finishes: both must give the same
// output.
func crashAndRestore[T any](t *testing.T, recs []stream.Record[ev], build func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[T])) {
	t.Helper()
	ref := &listSink[T]{}
	p := stream.New()
	build(p, streamtest.NewReplay(recs), ref)
	require.NoError(t, p.Run(context.Background()))
	require.NotEmpty(t, ref.vals)

	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
	held := streamtest.NewReplay(recs[:len(recs)/2])
	held.Hold = true
	build(p1, held, &listSink[T]{failAt: 3})
	require.ErrorIs(t, p1.Run(context.Background()), errCrash)
	cp, err := store.Latest(context.Background())
	require.NoError(t, err)
	require.NotNil(t, cp)

	out := &listSink[T]{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	build(p2, streamtest.NewReplay(recs), out)
	require.NoError(t, p2.Run(context.Background()))
	assert.Equal(t, ref.sorted(), out.sorted(), "output after crash and restore differs from the uninterrupted run")
}

func TestIntervalJoinCheckpointRestore(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 7}, stream.Time(i*10+(i*7919)%40)))
	}
	crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[pair]) {
		s := stream.From[ev](p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](40)))
		a := stream.Filter(s, func(e ev) bool { return e.ID%2 == 0 })
		b := stream.Filter(s, func(e ev) bool { return e.ID%2 == 1 })
		j := enrich.IntervalLeftJoin(a, b, evKey, evKey, -100, 150, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{x.ID, -1, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, enrich.JoinExchange(stream.Parallelism(2)))
		stream.To(j.Stream, sink)
	})
}

// The interval join's state is kept by key group: a checkpoint written at
// parallelism 2 restores at 3 (and the uninterrupted reference runs at 1).
func TestIntervalJoinRestoreAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 11}, stream.Time(i*10+(i*7919)%40)))
	}
	runs := 0
	crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[pair]) {
		par := []int{1, 2, 3}[runs]
		runs++
		s := stream.From[ev](p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](40)))
		a := stream.Filter(s, func(e ev) bool { return e.ID%2 == 0 })
		b := stream.Filter(s, func(e ev) bool { return e.ID%2 == 1 })
		j := enrich.IntervalLeftJoin(a, b, evKey, evKey, -100, 150, func(x, y ev, ok bool) pair {
			if !ok {
				return pair{x.ID, -1, 0}
			}
			return pair{x.ID, y.ID, 0}
		}, enrich.JoinExchange(stream.Parallelism(par)))
		stream.To(j.Stream, sink)
	})
	require.Equal(t, 3, runs)
}

// The outer interval joins keep whether each held record has found a
// partner in their checkpoints: a run restored at another parallelism emits
// the same unmatched records as an uninterrupted one. Same-key records are
// 70 to 150 apart and the interval is [-100, 80], so some find a partner and
// some do not.
func TestIntervalOuterJoinRestoreAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 11}, stream.Time(i*10+(i*7919)%40)))
	}
	for _, kind := range []joinKind{rightJoin, fullJoin} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			runs := 0
			crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[pair]) {
				par := []int{1, 3, 2}[runs]
				runs++
				s := stream.From[ev](p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](40)))
				a := stream.Filter(s, func(e ev) bool { return e.ID%2 == 0 })
				b := stream.Filter(s, func(e ev) bool { return e.ID%2 == 1 })
				j := intervalJoinOf(kind, a, b, -100, 80, enrich.JoinExchange(stream.Parallelism(par)))
				stream.To(j.Stream, sink)
				if runs == 1 {
					t.Cleanup(func() {
						var matched, unmatched int
						for _, r := range sink.vals {
							if r.Value.A >= 0 && r.Value.B >= 0 {
								matched++
							} else {
								unmatched++
							}
						}
						assert.Positive(t, matched)
						assert.Positive(t, unmatched)
					})
				}
			})
			require.Equal(t, 3, runs)
		})
	}
}

// The window join keeps its windows by key group too: written at 3, restored
// at 1.
func TestWindowJoinRestoreAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 11}, stream.Time(i*10+(i*7919)%40)))
	}
	runs := 0
	crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[pair]) {
		par := []int{2, 3, 1}[runs]
		runs++
		s := stream.From[ev](p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[ev](40)))
		a := stream.Filter(s, func(e ev) bool { return e.ID%2 == 0 })
		b := stream.Filter(s, func(e ev) bool { return e.ID%2 == 1 })
		j := enrich.WindowJoin(a, b, evKey, evKey, window.Tumbling(200), func(x, y ev) pair { return pair{x.ID, y.ID, 0} },
			enrich.JoinExchange(stream.Parallelism(par)))
		stream.To(j.Stream, sink)
	})
	require.Equal(t, 3, runs)
}

func TestLookupBatchCheckpointRestore(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 9}, stream.Time(i)))
	}
	tbl := enrich.NewMapTable(map[int]string{0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"})
	crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[string]) {
		// No watermarks until the end: only full batches flush, so barriers
		// find records waiting in the batch.
		s := stream.From[ev](p, src)
		e := enrich.Lookup(s, tbl, evKey, func(e ev, row string) string { return fmt.Sprint(e.ID, row) },
			enrich.Batch(64), enrich.DefaultRow("?"))
		stream.To(e.Stream, sink)
	})
}

// A batched lookup on a keyed stream checkpoints the records waiting in its
// batches by key group: restored at another parallelism, each goes back to
// the instance owning its key, and the output is the uninterrupted run's.
func TestLookupBatchRestoresAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	var recs []stream.Record[ev]
	for i := range 3000 {
		recs = append(recs, stream.At(ev{ID: i, Key: i % 9}, stream.Time(i)))
	}
	rows := map[int]string{0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
	// A TableFunc, not a MapTable: a MapTable is read record by record.
	tbl := enrich.TableFunc[int, string](func(_ context.Context, k int) (string, bool, error) {
		v, ok := rows[k]
		return v, ok, nil
	})
	runs := 0
	crashAndRestore(t, recs, func(p *stream.Pipeline, src *streamtest.Replay[ev], sink *listSink[string]) {
		par := []int{2, 3, 1}[runs]
		runs++
		// No watermarks until the end: only full batches flush, so barriers
		// find records waiting in the batches.
		k := stream.KeyBy(stream.From[ev](p, src), evKey, stream.Parallelism(par))
		e := enrich.Lookup(k.Stream, tbl, evKey, func(e ev, row string) string { return fmt.Sprint(e.ID, row) },
			enrich.Batch(64), enrich.MaxWait(0), enrich.DefaultRow("?"), stream.Name("lookup"))
		stream.To(e.Stream, sink, stream.Name("sink"))
	})
	require.Equal(t, 3, runs)
}
