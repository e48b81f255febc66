package main

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
)

// BenchmarkPipeline runs a whole engine on generated plays held in memory
// (so generation is not measured) and reports events/s: "reference" is the
// hand-written single loop, "brook" the library pipeline on one keyed
// instance, "brook-parallel" on one per core (juliawolf's default); the
// ratio is read from one run.
func BenchmarkPipeline(b *testing.B) {
	cat := DefaultCatalog()
	plays := slices.Collect(NewGenerator(cat, 200_000, DefaultSeed).All())
	cfg := Config{Window: time.Minute, MaxDelay: 5 * time.Second, Parallel: 1}
	engines := []struct {
		name string
		run  func(context.Context, Config, []Play, *Catalog) (*Snapshot, error)
	}{
		{"reference", func(ctx context.Context, cfg Config, plays []Play, cat *Catalog) (*Snapshot, error) {
			return referenceEngine(ctx, cfg, &SliceSource{Plays: plays}, cat)
		}},
		{"brook", func(ctx context.Context, cfg Config, plays []Play, cat *Catalog) (*Snapshot, error) {
			return pipelineEngine(ctx, cfg, playsIn(&SliceSource{Plays: plays}), cat)
		}},
		{"brook-parallel", func(ctx context.Context, cfg Config, plays []Play, cat *Catalog) (*Snapshot, error) {
			cfg.Parallel = runtime.GOMAXPROCS(0)
			return pipelineEngine(ctx, cfg, playsIn(&SliceSource{Plays: plays}), cat)
		}},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				snap, err := e.run(context.Background(), cfg, plays, cat)
				if err != nil {
					b.Fatal(err)
				}
				if snap.EventsProcessed != int64(len(plays)) {
					b.Fatalf("processed %d of %d", snap.EventsProcessed, len(plays))
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(plays))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkGenerator measures the generator alone.
func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(DefaultCatalog(), 100_000, DefaultSeed)
	b.ReportAllocs()
	for b.Loop() {
		for range g.All() {
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "events/s")
}

// timedStore is a DirStore that records how many checkpoints it saved,
// their size and the time Save took (encoding, write, fsync, rename).
type timedStore struct {
	*stream.DirStore
	n     int
	bytes int64
	save  time.Duration
}

func (s *timedStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	began := time.Now()
	err := s.DirStore.Save(ctx, cp)
	s.save += time.Since(began)
	s.n++
	s.bytes += int64(len(stream.EncodeCheckpoint(cp)))
	return err
}

// BenchmarkCheckpointOverhead runs the pipeline on 2M generated plays (the
// generator is part of the run, as in `juliawolf -events 2000000`) without
// checkpoints — the baseline — and with checkpoints every second and every
// 100ms, reporting events/s, and per checkpoint its size and Save time.
// Run it with -benchtime=1x: one iteration takes seconds.
func BenchmarkCheckpointOverhead(b *testing.B) {
	const events = 2_000_000
	cat := DefaultCatalog()
	for _, bc := range []struct {
		name     string
		interval time.Duration
	}{{"none", 0}, {"every-1s", time.Second}, {"every-100ms", 100 * time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var st *timedStore
			for b.Loop() {
				cfg := Config{Window: time.Minute, MaxDelay: 5 * time.Second, Parallel: 2}
				if bc.interval > 0 {
					ds, err := stream.NewDirStore(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					st = &timedStore{DirStore: ds}
					cfg.Checkpoints, cfg.CheckpointInterval = st, bc.interval
				}
				snap, err := pipelineEngine(context.Background(), cfg, playsIn(NewGeneratorSource(NewGenerator(cat, events, DefaultSeed))), cat)
				if err != nil {
					b.Fatal(err)
				}
				if snap.EventsProcessed != events {
					b.Fatalf("processed %d of %d", snap.EventsProcessed, events)
				}
			}
			b.ReportMetric(float64(b.N)*events/b.Elapsed().Seconds(), "events/s")
			if st != nil && st.n > 0 {
				b.ReportMetric(float64(st.n), "ckpts")
				b.ReportMetric(float64(st.bytes)/float64(st.n), "B/ckpt")
				b.ReportMetric(float64(st.save.Microseconds())/1000/float64(st.n), "save-ms/ckpt")
			}
		})
	}
}

// BenchmarkRecovery measures a restart: a run is stopped right after a
// checkpoint taken once all 200k plays were read (the windows of the last
// minutes still open), and each iteration restores it — reading and
// decoding the checkpoint, restoring every operator, seeking the source —
// and finishes the run, which has no plays left to read.
func BenchmarkRecovery(b *testing.B) {
	cat := DefaultCatalog()
	plays := slices.Collect(NewGenerator(cat, 200_000, DefaultSeed).All())
	cfg := Config{Window: time.Minute, MaxDelay: 5 * time.Second, AllowedLateness: time.Minute, Parallel: 2}
	ds, err := stream.NewDirStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	store := &savingStore{DirStore: ds}
	c := cfg
	c.Checkpoints, c.CheckpointInterval = store, 10*time.Millisecond
	src := &crashSource{SliceSource: &SliceSource{Plays: plays}, crashAt: len(plays), store: store}
	if _, err := pipelineEngine(context.Background(), c, playsIn(src), cat); !errors.Is(err, errCrash) {
		b.Fatalf("the first run should crash after its last checkpoint: %v", err)
	}
	cp, err := ds.Latest(context.Background())
	if err != nil || cp == nil {
		b.Fatal("no checkpoint", err)
	}
	want, err := pipelineEngine(context.Background(), cfg, playsIn(&SliceSource{Plays: plays}), cat)
	if err != nil {
		b.Fatal(err)
	}
	c.CheckpointInterval = time.Hour
	b.ReportAllocs()
	for b.Loop() {
		got, err := pipelineEngine(context.Background(), c, playsIn(&SliceSource{Plays: plays}), cat)
		if err != nil {
			b.Fatal(err)
		}
		if got.EventsProcessed != want.EventsProcessed || len(got.Windows) != len(want.Windows) {
			b.Fatalf("restored run: %d plays in %d windows, want %d in %d", got.EventsProcessed, len(got.Windows), want.EventsProcessed, len(want.Windows))
		}
	}
	b.ReportMetric(float64(len(stream.EncodeCheckpoint(cp))), "ckpt-bytes")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/recovery")
}
