package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

// counts returns records 0..n-1 at times 0..n-1.
func counts(n int64) []stream.Record[int64] {
	recs := make([]stream.Record[int64], n)
	for i := range recs {
		recs[i] = stream.At(int64(i), stream.Time(i))
	}
	return recs
}

// sumOp keeps a running sum per key (v % 5) and emits "key=sum" per record.
type sumOp struct{ sums map[int64]int64 }

func (o *sumOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[string]) error {
	k := r.Value % 5
	o.sums[k] += r.Value
	return out.Emit(stream.At(fmt.Sprintf("%d=%d", k, o.sums[k]), r.Time))
}
func (o *sumOp) ProcessWatermark(stream.Time, stream.Emitter[string]) error { return nil }
func (o *sumOp) Snapshot() ([]byte, error) {
	var b []byte
	for k := range int64(5) {
		b = binary.AppendVarint(b, o.sums[k])
	}
	return b, nil
}
func (o *sumOp) Restore(b []byte) error {
	for k := range int64(5) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errors.New("bad sums")
		}
		o.sums[k], b = v, b[n:]
	}
	return nil
}

// listSink collects values, checkpoints them, and can fail right after a
// given checkpoint completes (a crash).
type listSink struct {
	mu     sync.Mutex
	vals   []string
	failAt int64
}

var errCrash = errors.New("simulated crash")

func (s *listSink) Write(_ context.Context, r stream.Record[string]) error {
	s.mu.Lock()
	s.vals = append(s.vals, r.Value)
	s.mu.Unlock()
	return nil
}
func (s *listSink) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, v := range s.vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b, nil
}
func (s *listSink) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = nil
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return errors.New("bad list")
		}
		s.vals = append(s.vals, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	return nil
}
func (s *listSink) CheckpointComplete(_ context.Context, id int64) error {
	if s.failAt != 0 && id >= s.failAt {
		return errCrash
	}
	return nil
}

func buildSum(p *stream.Pipeline, src *streamtest.Replay[int64], sink *listSink) {
	s := stream.From(p, src, stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](0)))
	k := stream.KeyBy(s, func(v int64) int64 { return v % 5 }, stream.Parallelism(2), stream.BatchSize(7))
	sums := stream.Apply(k.Stream, func() stream.Operator[int64, string] { return &sumOp{sums: map[int64]int64{}} }, stream.Name("sum"))
	stream.To(sums, sink, stream.Name("list"))
}

func TestCheckpointCrashAndRestoreIsExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 3000
	// The uninterrupted run.
	ref := &listSink{}
	p := stream.New()
	buildSum(p, streamtest.NewReplay(counts(n)), ref)
	require.NoError(t, p.Run(context.Background()))

	dir := t.TempDir()
	store, err := stream.NewDirStore(dir)
	require.NoError(t, err)
	// Run 1 crashes right after checkpoint 3 completes, while its source
	// waits for more input.
	p1 := stream.New(stream.WithCheckpoints(store, time.Millisecond))
	held := streamtest.NewReplay(counts(n / 2))
	held.Hold = true
	buildSum(p1, held, &listSink{failAt: 3})
	require.ErrorIs(t, p1.Run(context.Background()), errCrash)
	cp, err := store.Latest(context.Background())
	require.NoError(t, err)
	require.NotNil(t, cp)
	require.GreaterOrEqual(t, cp.ID, int64(3))

	// Run 2 restores it and finishes the input.
	out := &listSink{}
	p2 := stream.New(stream.WithCheckpoints(store, time.Hour))
	buildSum(p2, streamtest.NewReplay(counts(n)), out)
	require.NoError(t, p2.Run(context.Background()))
	got, want := slices.Clone(out.vals), slices.Clone(ref.vals)
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got, "output after crash and restore differs from the uninterrupted run")
}

func TestDirStoreSkipsCorruptCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := stream.NewDirStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	for id := int64(1); id <= 5; id++ {
		require.NoError(t, store.Save(ctx, &stream.Checkpoint{ID: id, States: map[string][]byte{"op/0": {byte(id)}}}))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "ckpt-*"))
	assert.Len(t, files, 3, "old checkpoints pruned")
	// Tear the newest: Latest falls back to the previous one.
	newest := files[len(files)-1]
	data, err := os.ReadFile(newest)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(newest, data[:len(data)-3], 0o644))
	cp, err := store.Latest(ctx)
	require.NoError(t, err)
	require.NotNil(t, cp)
	assert.Equal(t, int64(4), cp.ID)
	assert.Equal(t, []byte{4}, cp.States["op/0"])
}

// A writer killed in the middle of a Save leaves its temporary file; the
// next NewDirStore on the directory removes it and keeps the checkpoints.
func TestDirStoreClearsStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := stream.NewDirStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, store.Save(ctx, &stream.Checkpoint{ID: 7, States: map[string][]byte{"op/0": {7}}}))
	stale := filepath.Join(dir, ".tmp-ckpt-123456")
	require.NoError(t, os.WriteFile(stale, []byte("torn"), 0o644))
	other := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(other, []byte("not ours"), 0o644))

	store, err = stream.NewDirStore(dir)
	require.NoError(t, err)
	_, err = os.Stat(stale)
	assert.ErrorIs(t, err, os.ErrNotExist, "the stale temporary file is removed")
	_, err = os.Stat(other)
	assert.NoError(t, err, "files that are not the store's stay")
	cp, err := store.Latest(ctx)
	require.NoError(t, err)
	require.NotNil(t, cp)
	assert.Equal(t, int64(7), cp.ID)
}

func TestCheckpointRoundTrip(t *testing.T) {
	t.Parallel()
	cp := &stream.Checkpoint{ID: 42, States: map[string][]byte{"a/0": []byte("x"), "b/1": {}, "c/0": []byte("long state")}}
	got, err := stream.DecodeCheckpoint(stream.EncodeCheckpoint(cp))
	require.NoError(t, err)
	assert.Equal(t, cp, got)
	_, err = stream.DecodeCheckpoint([]byte("BRCK\x01garbage-garbage"))
	assert.ErrorIs(t, err, stream.ErrCorruptCheckpoint)
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(stream.EncodeCheckpoint(&stream.Checkpoint{ID: 1, States: map[string][]byte{"k/0": []byte("v")}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := stream.DecodeCheckpoint(data)
		if err == nil {
			// Whatever decodes must encode back to the same bytes.
			assert.Equal(t, data, stream.EncodeCheckpoint(cp))
		}
	})
}

// TestOperatorState: a stored checkpoint gives back what a named
// Snapshotter saved, nothing for a name it does not hold, and an error for
// damaged state.
func TestOperatorState(t *testing.T) {
	t.Parallel()
	store, err := stream.NewDirStore(t.TempDir())
	require.NoError(t, err)
	p := stream.New(stream.WithCheckpoints(store, time.Hour))
	sink := &listSink{}
	stream.To(stream.Map(stream.From(p, stream.Slice([]int{1, 2, 3})), func(v int) string { return fmt.Sprint(v) }),
		sink, stream.Name("lister"))
	require.NoError(t, p.Run(context.Background()))
	cp, err := store.Latest(context.Background())
	require.NoError(t, err)
	require.NotNil(t, cp)
	got, ok, err := cp.OperatorState("lister", 0)
	require.NoError(t, err)
	require.True(t, ok)
	restored := &listSink{}
	require.NoError(t, restored.Restore(got))
	assert.Equal(t, []string{"1", "2", "3"}, restored.vals)
	_, ok, err = cp.OperatorState("nothing", 0)
	require.NoError(t, err)
	assert.False(t, ok)
	cp.States["bad/0"] = []byte{0xff}
	_, _, err = cp.OperatorState("bad", 0)
	assert.ErrorIs(t, err, stream.ErrCorruptCheckpoint)
}
