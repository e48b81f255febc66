package window_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// These tests checkpoint a windowed pipeline at one parallelism, crash it,
// restore the checkpoint at another and finish the input: the results must
// be those of the brute-force reference (the same as an uninterrupted run),
// whatever the two parallelisms.

var errCrash = errors.New("simulated crash")

// stepSource is a checkpointable source of steps (records and watermarks,
// each watermark flushed to every instance): its state is its position.
// With hold set it does not end after its last step but flushes every
// millisecond, so barriers go on passing, until the run fails or stops.
type stepSource struct {
	steps []step
	pos   int64
	hold  bool
}

func (s *stepSource) Run(ctx context.Context, out stream.SourceOutput[ev]) error {
	for s.pos < int64(len(s.steps)) {
		st := s.steps[s.pos]
		s.pos++ // consumed before Emit: a barrier may be injected inside it
		var err error
		switch st.kind {
		case 0:
			err = out.Emit(stream.Record[ev]{Time: stream.Time(st.t), Value: st.rec})
		case 1:
			if err = out.EmitWatermark(stream.Time(st.wm)); err == nil {
				err = out.Flush()
			}
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

func (s *stepSource) Snapshot() ([]byte, error) { return strconv.AppendInt(nil, s.pos, 10), nil }

func (s *stepSource) Restore(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 || v > int64(len(s.steps)) {
		return fmt.Errorf("%w: step position %q", stream.ErrCorruptCheckpoint, b)
	}
	s.pos = v
	return nil
}

// ckptSink collects values and checkpoints them; with failAt set it fails
// once checkpoint failAt is complete (the crash).
type ckptSink[T any] struct {
	mu     sync.Mutex
	vals   []T
	failAt int64
}

func (s *ckptSink[T]) Write(_ context.Context, r stream.Record[T]) error {
	s.mu.Lock()
	s.vals = append(s.vals, r.Value)
	s.mu.Unlock()
	return nil
}

func (s *ckptSink[T]) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(s.vals)
	return buf.Bytes(), err
}

func (s *ckptSink[T]) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = nil
	return gob.NewDecoder(bytes.NewReader(b)).Decode(&s.vals)
}

func (s *ckptSink[T]) CheckpointComplete(_ context.Context, id int64) error {
	if s.failAt != 0 && id >= s.failAt {
		return errCrash
	}
	return nil
}

// rescaled runs steps[:cut] at parallelism par1 with checkpoints until the
// third checkpoint completes, crashes, and restores that checkpoint at par2
// to run the rest; it returns the firings and late records of the restored
// run's sinks (which hold the crashed run's output up to the checkpoint).
func rescaled(t *testing.T, p params, steps []step, cut, par1, par2 int) ([]firing, []lateOut) {
	t.Helper()
	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	run := func(src *stepSource, par int, interval time.Duration, results *ckptSink[window.Result[int, string]], late *ckptSink[window.LateRecord[ev]]) error {
		pl := stream.New(stream.WithCheckpoints(store, interval), stream.WithBatchSize(8))
		in := stream.From[ev](pl, src)
		w := window.Process(stream.KeyBy(in, evKey, stream.Parallelism(par)), p.assigner(), idsOf, p.options()...)
		stream.To(w.Stream, results)
		stream.To(w.Late(), late)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return pl.Run(ctx)
	}
	err = run(&stepSource{steps: steps[:cut], hold: true}, par1, time.Millisecond, &ckptSink[window.Result[int, string]]{failAt: 3}, &ckptSink[window.LateRecord[ev]]{})
	require.ErrorIs(t, err, errCrash)
	results, late := &ckptSink[window.Result[int, string]]{}, &ckptSink[window.LateRecord[ev]]{}
	require.NoError(t, run(&stepSource{steps: steps}, par2, time.Hour, results, late))
	var fs []firing
	for _, r := range results.vals {
		fs = append(fs, firing{Key: r.Key, Start: int64(r.Start), End: int64(r.End), Firing: r.Firing, Value: r.Value})
	}
	var ls []lateOut
	for _, l := range late.vals {
		var ws [][2]int64
		for _, w := range l.Windows {
			ws = append(ws, [2]int64{int64(w.Start), int64(w.End)})
		}
		ls = append(ls, lateOut{ID: l.Record.Value.ID, Windows: fmt.Sprint(ws)})
	}
	return normalize(fs), sortLate(ls)
}

func TestRestoreAtAnotherParallelism(t *testing.T) {
	t.Parallel()
	cases := 40
	if testing.Short() {
		cases = 12
	}
	seed := rand.Uint64()
	if s := os.Getenv("WINDOW_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	for c := range cases {
		p, all := genCase(rng)
		var steps []step // no idle marks: one source
		for _, s := range all {
			if s.kind != 2 {
				steps = append(steps, s)
			}
		}
		if len(steps) < 2 {
			continue
		}
		par1, par2 := 1+rng.IntN(4), 1+rng.IntN(4)
		cut := 1 + rng.IntN(len(steps)-1)
		t.Run(fmt.Sprintf("%d/%s/%d-to-%d", c, p.kind, par1, par2), func(t *testing.T) {
			t.Parallel()
			wantRes, wantLate := reference(p, steps)
			gotRes, gotLate := rescaled(t, p, steps, cut, par1, par2)
			require.Equal(t, normalize(wantRes), gotRes, "params=%+v cut=%d input: %s", p, cut, dumpSteps(steps))
			require.Equal(t, sortLate(wantLate), gotLate, "params=%+v cut=%d", p, cut)
		})
	}
}

func sortLate(ls []lateOut) []lateOut {
	slices.SortFunc(ls, func(a, b lateOut) int { return cmp.Compare(a.ID, b.ID) })
	return ls
}
