package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// savingStore is a DirStore that remembers the id of the last checkpoint
// it saved.
type savingStore struct {
	*stream.DirStore
	saved atomic.Int64
}

func (s *savingStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	err := s.DirStore.Save(ctx, cp)
	if err == nil {
		s.saved.Store(cp.ID)
	}
	return err
}

var errCrash = errors.New("simulated crash")

// crashSource emits plays like SliceSource until its position reaches
// crashAt; then, once a checkpoint newer than after has been saved, it
// fails the run, as if the process died there: what the pipeline did since
// that checkpoint, and output still buffered, is lost.
type crashSource struct {
	*SliceSource
	crashAt int
	store   *savingStore
	after   int64
}

func (s *crashSource) Run(ctx context.Context, out stream.SourceOutput[Play]) error {
	for {
		if s.crashAt > 0 && s.pos >= s.crashAt {
			deadline := time.Now().Add(time.Minute)
			for s.store.saved.Load() <= s.after {
				if time.Now().After(deadline) {
					return errors.New("no checkpoint within a minute")
				}
				if err := out.Flush(); err != nil { // lets a barrier in
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			return errCrash
		}
		if s.pos == len(s.Plays) {
			return nil
		}
		p := s.Plays[s.pos]
		s.pos++
		if err := out.Emit(stream.Record[Play]{Value: p}); err != nil {
			return err
		}
	}
}

// mixedPlays returns generated plays, shuffled further out of order, with a
// share of tracks the catalog lacks.
func mixedPlays(rng *rand.Rand, n int64, seed uint64) []Play {
	plays := slices.Collect(NewGenerator(DefaultCatalog(), n, seed).All())
	for i := range plays {
		if rng.IntN(10) == 0 {
			j := min(len(plays)-1, i+rng.IntN(40))
			plays[i], plays[j] = plays[j], plays[i]
		}
		if rng.IntN(100) == 0 {
			plays[i].TrackID = "jw-99"
		}
	}
	return plays
}

// TestPipelineCrashAndRestore crashes the pipeline engine right after a
// checkpoint, several times, restarting it from the store each time with a
// new source over the same plays; the final snapshot and the dead-letter
// file must be those of an uninterrupted run, for random windows, bounds,
// lateness and parallelism.
func TestPipelineCrashAndRestore(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	runs := 4
	if testing.Short() {
		runs = 2
	}
	for seed := range uint64(runs) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			plays := mixedPlays(rng, 30_000, seed)
			cfg := Config{
				Window:          time.Duration(10+rng.IntN(110)) * time.Second,
				MaxDelay:        time.Duration(rng.IntN(20)) * time.Second,
				AllowedLateness: time.Duration(seed%2) * time.Duration(10+rng.IntN(60)) * time.Second,
				Parallel:        1 + rng.IntN(3),
			}
			msg := fmt.Sprintf("window %v, B %v, L %v, parallel %d", cfg.Window, cfg.MaxDelay, cfg.AllowedLateness, cfg.Parallel)
			dir := t.TempDir()
			refCfg := cfg
			refCfg.DeadLetterFile = filepath.Join(dir, "want.dead.jsonl")
			want, err := pipelineEngine(context.Background(), refCfg, playsIn(&SliceSource{Plays: plays}), cat)
			require.NoError(t, err)
			wantDead, err := os.ReadFile(refCfg.DeadLetterFile)
			require.NoError(t, err)
			require.Positive(t, want.EventsInvalid, "some unknown tracks")

			dirStore, err := stream.NewDirStore(filepath.Join(dir, "ckpt"))
			require.NoError(t, err)
			store := &savingStore{DirStore: dirStore}
			deadPath := filepath.Join(dir, "dead.jsonl")
			var got *Snapshot
			var last int64
			for round := 0; got == nil; round++ {
				src := &crashSource{SliceSource: &SliceSource{Plays: plays}, store: store, after: last}
				if round < 3 { // crash in the round-th quarter of the input
					src.crashAt = len(plays) * (round + 1) / 4
					src.crashAt += rng.IntN(len(plays) / 4)
				}
				c := cfg
				c.DeadLetterFile = deadPath // jsonl.Writer: cut back to the checkpoint on restore
				c.Checkpoints, c.CheckpointInterval = store, time.Millisecond
				snap, err := pipelineEngine(context.Background(), c, playsIn(src), cat)
				if err == nil {
					got = snap
				} else {
					require.ErrorIs(t, err, errCrash, "round %d", round)
					require.Greater(t, store.saved.Load(), last, "round %d", round)
					last = store.saved.Load()
				}
				require.LessOrEqual(t, round, 3, "the run ends in round 4")
			}
			require.GreaterOrEqual(t, last, int64(3), "three crashes, each after a new checkpoint: %s", msg)
			assert.Equal(t, want, got, msg)
			dead, err := os.ReadFile(deadPath)
			require.NoError(t, err)
			assert.Equal(t, string(wantDead), string(dead), "dead letters, none lost or twice: %s", msg)
		})
	}
}

// TestBoardSinkRoundTrip feeds two leaderboard sinks the same random
// window results, late plays and watermarks, restoring the second from a
// snapshot of the first at a random point: they must end with the same
// snapshot, and a restored sink must snapshot to the same bytes.
func TestBoardSinkRoundTrip(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	ctx := context.Background()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 3))
		const size = stream.Time(time.Minute)
		type step struct {
			ev boardEvent
			wm stream.Time
		}
		var steps []step
		var wm stream.Time
		for range 300 {
			switch rng.IntN(4) {
			case 0:
				wm += stream.Time(rng.Int64N(int64(30 * time.Second)))
				steps = append(steps, step{wm: wm})
			case 1:
				p := at(time.Duration(rng.Int64N(int64(time.Hour))))
				p.UserID = fmt.Sprint("u-", rng.IntN(500))
				steps = append(steps, step{ev: boardEvent{late: &trackPlay{UserID: p.UserID, Platform: p.Platform, MsPlayed: p.MsPlayed,
					EventTime: stream.TimeOf(p.EventTime), Track: int32(rng.IntN(cat.Len())), Complete: p.MsPlayed >= 1000}}})
			default:
				start := (wm/size + stream.Time(rng.IntN(3))) * size
				st := &TrackStats{}
				for range 1 + rng.IntN(50) {
					p := at(0)
					p.UserID, p.Platform, p.MsPlayed = fmt.Sprint("u-", rng.IntN(2000)), platforms[rng.IntN(len(platforms))].name, rng.Int64N(300000)
					st.Add(p, 180000)
				}
				steps = append(steps, step{ev: boardEvent{result: &window.Result[int, *TrackStats]{Key: rng.IntN(cat.Len()), Start: start, End: start + size, Value: st}}})
			}
		}
		apply := func(b *boardSink, s step) {
			if s.wm != 0 {
				require.NoError(t, b.WriteWatermark(ctx, s.wm))
				return
			}
			ev := s.ev
			if ev.result != nil { // the sinks must not share accumulators
				r := *ev.result
				r.Value = trackAgg{}.Result(r.Value)
				ev.result = &r
			}
			require.NoError(t, b.Write(ctx, stream.Record[boardEvent]{Value: ev}))
		}
		lateness := time.Duration(rng.IntN(2)) * time.Minute
		a, b := newBoardSink(cat, lateness), newBoardSink(cat, lateness)
		a.perTrack = rng.IntN(2) == 0
		b.perTrack = a.perTrack
		split := rng.IntN(len(steps))
		for i, s := range steps {
			if i == split {
				state, err := a.Snapshot()
				require.NoError(t, err)
				require.NoError(t, b.Restore(state))
				again, err := b.Snapshot()
				require.NoError(t, err)
				require.Equal(t, state, again, "seed %d: restore then snapshot gives the same bytes", seed)
			}
			apply(a, s)
			if i >= split {
				apply(b, s)
			}
		}
		require.NoError(t, a.WriteWatermark(ctx, stream.MaxTime))
		require.NoError(t, b.WriteWatermark(ctx, stream.MaxTime))
		assert.Equal(t, a.snapshot(), b.snapshot(), "seed %d, split at %d of %d", seed, split, len(steps))
	}
}

// TestGeneratorSourceRunReportsFinishedWaves: a source restored in wave 2
// reports wave 1 done when it starts, then waves 2 and 3 as it finishes
// them, and emits exactly the plays after the checkpoint.
func TestGeneratorSourceRunReportsFinishedWaves(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	first := NewGeneratorSource(NewGenerator(cat, 4500, 3))
	for range 1300 {
		first.cur.next(new(Play))
	}
	state, err := first.Snapshot()
	require.NoError(t, err)

	gen := NewGenerator(cat, 4500, 3)
	var waves []int
	gen.OnWaveDone = func(w Wave) { waves = append(waves, w.Number) }
	src := NewGeneratorSource(gen)
	require.NoError(t, src.Restore(state))
	var lines []int64
	p := stream.New()
	stream.To(stream.From(p, stream.Source[Play](src)), stream.SinkFunc[Play](func(_ context.Context, r stream.Record[Play]) error {
		lines = append(lines, r.Value.Line)
		return nil
	}))
	require.NoError(t, p.Run(context.Background()))
	assert.Equal(t, []int{1, 2, 3}, waves)
	require.Len(t, lines, 4500-1300)
	assert.Equal(t, int64(1301), lines[0])
	assert.Equal(t, int64(4500), lines[len(lines)-1])
}

// TestRestoreRejectsDamage: a state that is truncated, extended, of another
// version or inconsistent is an error, never a panic or a silent restore.
func TestRestoreRejectsDamage(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	states := validStates(t, true)
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			r := restorers(cat)[name]
			require.NoError(t, r().Restore(state), "the valid state restores")
			// Every cut near the ends, a few hundred in between.
			for cut := range len(state) {
				if cut < 200 || len(state)-cut < 200 || cut%max(1, len(state)/300) == 0 {
					assert.Error(t, r().Restore(state[:cut]), "truncated to %d of %d bytes", cut, len(state))
				}
			}
			assert.Error(t, r().Restore(append(bytes.Clone(state), 0)), "a trailing byte")
			bad := bytes.Clone(state)
			bad[0]++
			assert.ErrorIs(t, r().Restore(bad), stream.ErrCorruptCheckpoint, "another version")
		})
	}
	// A leaderboard of another catalog.
	small, err := NewCatalog([]Track{{TrackID: "a", Title: "A", DurationMs: 1}})
	require.NoError(t, err)
	assert.ErrorContains(t, newBoardSink(small, 0).Restore(states["leaderboard"]), "the catalog has 1")
	// A generator checkpoint of another seed.
	assert.ErrorContains(t, NewGeneratorSource(NewGenerator(cat, 100, 8)).Restore(states["generator"]), "another generator run")
}

// validStates returns a snapshot of each of the example's checkpointed
// pieces in a non-trivial state, by name. With big, the leaderboard has
// dense HLLs (tens of KB); otherwise it stays small enough for the fuzzer
// to mutate and minimize quickly.
func validStates(t testing.TB, big bool) map[string][]byte {
	cat := DefaultCatalog()
	ctx := context.Background()
	board := newBoardSink(cat, 0)
	board.perTrack = true
	plays, split := slices.Collect(NewGenerator(cat, 3000, 5).All()), 2000
	if !big {
		plays, split = plays[1970:2030], 30
	}
	for i, p := range plays {
		ti, _ := cat.Index(p.TrackID)
		if i%50 == 0 {
			_ = board.Write(ctx, stream.Record[boardEvent]{Value: boardEvent{late: &trackPlay{UserID: p.UserID, Platform: p.Platform,
				MsPlayed: p.MsPlayed, EventTime: stream.TimeOf(p.EventTime), Track: int32(ti), Complete: p.MsPlayed >= 1}}})
			continue
		}
		st := &TrackStats{}
		st.Add(p, 180000)
		start := stream.TimeOf(p.EventTime) / stream.Time(time.Minute) * stream.Time(time.Minute)
		_ = board.Write(ctx, stream.Record[boardEvent]{Value: boardEvent{result: &window.Result[int, *TrackStats]{Key: ti, Start: start, End: start + stream.Time(time.Minute), Value: st}}})
		if i == split {
			_ = board.WriteWatermark(ctx, start-1)
		}
	}
	gen := NewGeneratorSource(NewGenerator(cat, 100, 4))
	for range 37 {
		gen.cur.next(new(Play))
	}
	out := map[string][]byte{}
	for name, s := range map[string]stream.Snapshotter{"leaderboard": board, "generator": gen} {
		state, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = state
	}
	return out
}

// restorers makes a fresh instance of each checkpointed piece, by name.
func restorers(cat *Catalog) map[string]func() stream.Snapshotter {
	return map[string]func() stream.Snapshotter{
		"leaderboard": func() stream.Snapshotter { return newBoardSink(cat, 0) },
		"generator":   func() stream.Snapshotter { return NewGeneratorSource(NewGenerator(cat, 100, 4)) },
	}
}

// FuzzRestore feeds arbitrary bytes to every Restore of the example's
// checkpoint encodings: an error or a restore, never a panic; and what
// restores snapshots again without error.
func FuzzRestore(f *testing.F) {
	names := []string{"leaderboard", "generator"}
	states := validStates(f, false)
	for i, name := range names {
		f.Add(uint8(i), states[name])
		f.Add(uint8(i), []byte{1})
	}
	cat := DefaultCatalog()
	f.Fuzz(func(t *testing.T, which uint8, state []byte) {
		s := restorers(cat)[names[int(which)%len(names)]]()
		if err := s.Restore(state); err != nil {
			return
		}
		if _, err := s.Snapshot(); err != nil {
			t.Fatalf("restored state does not snapshot: %v", err)
		}
		if b, ok := s.(*boardSink); ok {
			// The restored leaderboard can close its windows and report.
			if err := b.WriteWatermark(context.Background(), stream.MaxTime); err != nil {
				t.Fatal(err)
			}
			b.snapshot().Finish(time.Minute)
		}
	})
}
