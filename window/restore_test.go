package window_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
	"github.com/brook-streams/brook/window"
)

type keyed struct{ K, V int }

func restoreRecs() []stream.Record[keyed] {
	var recs []stream.Record[keyed]
	for i := range 400 {
		recs = append(recs, stream.At(keyed{K: i % 3, V: i}, stream.Time(i)*stream.Time(time.Second)))
	}
	return recs
}

type countRow struct {
	Key   int
	Start stream.Time
	N     int64
}

// restorePipeline counts records per key in one-minute windows, sunk into
// minute; with extra it first adds an unnamed ten-second window on the same
// keyed stream, declared before the minute window.
func restorePipeline(p *stream.Pipeline, src stream.Source[keyed], seen func(), extra bool, minute *stream.CollectSink[countRow]) {
	s := stream.From(p, src, stream.Name("plays"), stream.WithWatermarks(stream.BoundedOutOfOrderness[keyed](0)))
	s = stream.Map(s, func(k keyed) keyed { seen(); return k })
	k := stream.KeyBy(s, func(k keyed) int { return k.K }, stream.Parallelism(2))
	row := func(r window.Result[int, int64]) countRow { return countRow{r.Key, r.Start, r.Value} }
	if extra {
		w := window.Aggregate(k, window.Tumbling(10*time.Second), window.Count[keyed]())
		stream.To(stream.Map(w.Results(), row), stream.Discard[countRow]())
	}
	w := window.Aggregate(k, window.Tumbling(time.Minute), window.Count[keyed]())
	stream.To(stream.Map(w.Results(), row), minute)
}

func sortedRows(rs ...[]countRow) []countRow {
	all := slices.Concat(rs...)
	slices.SortFunc(all, func(a, b countRow) int {
		if a.Start != b.Start {
			return int(a.Start - b.Start)
		}
		return a.Key - b.Key
	})
	return all
}

// stopAfter runs p, whose source holds after its records, and stops it
// with a savepoint once reached is closed.
func stopAfter(t *testing.T, p *stream.Pipeline, reached chan struct{}) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	<-reached
	require.NoError(t, p.Stop(context.Background()))
	require.NoError(t, <-errc)
}

// TestRestoreIntoPipelineWithInsertedWindow is the reported bug: inserting
// an unnamed window before another broke the restore of the other one
// (positional names gave it the new window's state). With default names
// derived from the input and the assigner, the old window keeps its state
// and the new one starts empty.
func TestRestoreIntoPipelineWithInsertedWindow(t *testing.T) {
	t.Parallel()
	recs := restoreRecs()
	const half = 190 // mid-window: the minute windows hold state at the stop

	want := stream.Collect[countRow]()
	p0 := stream.New()
	restorePipeline(p0, stream.Records(recs), func() {}, false, want)
	require.NoError(t, p0.Run(context.Background()))

	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	var passed atomic.Int64
	reached := make(chan struct{})
	count := func() {
		if passed.Add(1) == half {
			close(reached)
		}
	}
	first := stream.Collect[countRow]()
	src := streamtest.NewReplay(recs[:half])
	src.Hold = true
	p1 := stream.New(stream.WithCheckpoints(store, time.Hour))
	restorePipeline(p1, src, count, false, first)
	stopAfter(t, p1, reached)

	second := stream.Collect[countRow]()
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	restorePipeline(p2, streamtest.NewReplay(recs), func() {}, true, second)
	require.NoError(t, p2.Run(context.Background()))
	assert.Equal(t, sortedRows(want.Values()), sortedRows(first.Values(), second.Values()),
		"the minute windows restored their state; the inserted window started empty")
}

// TestRestoreWithRemovedOperator: state of an operator the pipeline no
// longer has fails the restore, naming it, unless AllowNonRestoredState
// drops it (and logs that).
func TestRestoreWithRemovedOperator(t *testing.T) {
	t.Parallel()
	recs := restoreRecs()
	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	var passed atomic.Int64
	reached := make(chan struct{})
	src := streamtest.NewReplay(recs[:100])
	src.Hold = true
	first := stream.Collect[countRow]()
	p1 := stream.New(stream.WithCheckpoints(store, time.Hour))
	restorePipeline(p1, src, func() {
		if passed.Add(1) == 100 {
			close(reached)
		}
	}, true, first)
	stopAfter(t, p1, reached)

	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	restorePipeline(p2, streamtest.NewReplay(recs), func() {}, false, stream.Collect[countRow]())
	err = p2.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	assert.Contains(t, err.Error(), `"plays.map.keyby.tumbling(10s)"`)
	assert.Contains(t, err.Error(), "AllowNonRestoredState")

	var log bytes.Buffer
	out := stream.Collect[countRow]()
	p3 := stream.New(stream.WithCheckpoints(store, time.Hour), stream.AllowNonRestoredState(),
		stream.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	restorePipeline(p3, streamtest.NewReplay(recs), func() {}, false, out)
	require.NoError(t, p3.Run(context.Background()))
	assert.Contains(t, log.String(), "plays.map.keyby.tumbling(10s)")
	var total int64
	for _, r := range append(first.Values(), out.Values()...) {
		total += r.N
	}
	assert.Equal(t, int64(len(recs)), total, "every record counted once: the minute windows restored what the first run held")
}
