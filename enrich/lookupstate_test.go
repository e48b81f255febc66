package enrich

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

type lkRec struct {
	Name string
	K    int
}

// newBatchOp is an instance (not keyed) lookup's operator with nothing
// opened: enough to snapshot and restore its batch.
func newBatchOp[T any](key func(T) int) *instanceLookupOp[T, int, string, string] {
	set := &lookupSettings[T, int, string, string]{key: key, codec: codec.For[T]()}
	return &instanceLookupOp[T, int, string, string]{&lookupOp[T, int, string, string]{lookupSettings: set}}
}

func lkBatch() []stream.Record[lkRec] {
	return []stream.Record[lkRec]{
		stream.At(lkRec{"a", 3}, 5), stream.At(lkRec{"", -1}, stream.MinTime), stream.At(lkRec{"ü", 1 << 40}, stream.MaxTime-1),
	}
}

// TestLookupBatchCodec round-trips an instance's batch in the state codec
// (the keys are recomputed), and checks that every truncation, a trailing
// byte and an unknown version fail as a corrupt checkpoint.
func TestLookupBatchCodec(t *testing.T) {
	t.Parallel()
	key := func(r lkRec) int { return r.K }
	o := newBatchOp(key)
	o.recs = lkBatch()
	b, err := o.Snapshot()
	require.NoError(t, err)
	require.Equal(t, byte(lookupBatchVersion), b[0])

	r := newBatchOp(key)
	require.NoError(t, r.Restore(b))
	assert.Equal(t, lkBatch(), r.recs)
	assert.Equal(t, []int{3, -1, 1 << 40}, r.keys)

	for n := 1; n < len(b); n++ {
		require.ErrorIs(t, newBatchOp(key).Restore(b[:n]), stream.ErrCorruptCheckpoint, "prefix of %d bytes", n)
	}
	require.ErrorIs(t, newBatchOp(key).Restore(append(bytes.Clone(b), 0)), stream.ErrCorruptCheckpoint, "trailing byte")
	bad := append([]byte{lookupBatchVersion + 1}, b[1:]...)
	require.ErrorIs(t, newBatchOp(key).Restore(bad), stream.ErrCorruptCheckpoint, "version")

	// A compact type is encoded compactly: far smaller than gob's.
	ints := newBatchOp(func(v int64) int { return int(v) })
	ints.recs = []stream.Record[int64]{stream.At(int64(1), 1), stream.At(int64(2), 2)}
	cb, err := ints.Snapshot()
	require.NoError(t, err)
	var gb bytes.Buffer
	require.NoError(t, gob.NewEncoder(&gb).Encode(ints.recs))
	assert.Less(t, len(cb), gb.Len()/4, "codec %d bytes, gob %d", len(cb), gb.Len())
}

// An earlier version's checkpoint holds the batch as encoding/gob: it still
// restores.
func TestLookupBatchRestoresTheGobOfEarlierVersions(t *testing.T) {
	t.Parallel()
	var old bytes.Buffer
	require.NoError(t, gob.NewEncoder(&old).Encode(lkBatch()))
	o := newBatchOp(func(r lkRec) int { return r.K })
	require.NoError(t, o.Restore(old.Bytes()))
	assert.Equal(t, lkBatch(), o.recs)
	assert.Equal(t, []int{3, -1, 1 << 40}, o.keys)
	require.ErrorIs(t, newBatchOp(func(r lkRec) int { return r.K }).Restore(old.Bytes()[:old.Len()/2]), stream.ErrCorruptCheckpoint)
}

type lkOpaque struct{ n int }

func TestLookupBatchOfUnencodableRecordFails(t *testing.T) {
	t.Parallel()
	o := newBatchOp(func(r lkOpaque) int { return r.n })
	o.recs = []stream.Record[lkOpaque]{stream.At(lkOpaque{1}, 1)}
	_, err := o.Snapshot()
	assert.ErrorContains(t, err, "gob")
}

// FuzzLookupBatchRestore feeds damaged batch snapshots (of this version and
// of earlier gob ones) to Restore: it fails cleanly or restores a batch that
// snapshots again. Only the seed corpus runs by default; fuzz with
// go test ./enrich -run '^$' -fuzz FuzzLookupBatchRestore -fuzztime 1m.
func FuzzLookupBatchRestore(f *testing.F) {
	key := func(r lkRec) int { return r.K }
	o := newBatchOp(key)
	o.recs = lkBatch()
	b, err := o.Snapshot()
	require.NoError(f, err)
	f.Add(b)
	var old bytes.Buffer
	require.NoError(f, gob.NewEncoder(&old).Encode(lkBatch()))
	f.Add(old.Bytes())
	f.Add([]byte{lookupBatchVersion, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		o := newBatchOp(key)
		if err := o.Restore(b); err != nil {
			require.ErrorIs(t, err, stream.ErrCorruptCheckpoint)
			return
		}
		require.Len(t, o.keys, len(o.recs))
		again, err := o.Snapshot()
		require.NoError(t, err)
		r := newBatchOp(key)
		require.NoError(t, r.Restore(again))
		assert.Equal(t, o.recs, r.recs)
	})
}
