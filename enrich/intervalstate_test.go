package enrich

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type ivVal struct {
	Name string
	N    int
}

// TestIntervalStateCodec round-trips an interval join's key group state
// (compact keys, gob-fallback and compact values) and checks that every
// truncation and a flipped version fail as a corrupt checkpoint.
func TestIntervalStateCodec(t *testing.T) {
	t.Parallel()
	st := &intervalState[ivVal, string, int]{
		Keys: []int{3, -7, 1 << 40},
		As:   [][]heldState[ivVal]{{{T: 5, V: ivVal{"x", 1}, Matched: true}}, nil, {{T: -9, V: ivVal{}}, {T: 12, V: ivVal{"y", 2}}}},
		Bs:   [][]heldState[string]{nil, {{T: 1, V: "b", Matched: true}, {T: 2, V: ""}}, {{T: stream.MaxTime - 1, V: "z"}}},
	}
	b, err := encodeInterval(st)
	require.NoError(t, err)
	got, err := decodeInterval[ivVal, string, int](b)
	require.NoError(t, err)
	assert.Equal(t, st, got)

	for n := range len(b) {
		_, err := decodeInterval[ivVal, string, int](b[:n])
		require.ErrorIs(t, err, stream.ErrCorruptCheckpoint, "prefix of %d bytes", n)
	}
	_, err = decodeInterval[ivVal, string, int](append(b, 0))
	require.ErrorIs(t, err, stream.ErrCorruptCheckpoint, "trailing byte")
	bad := append([]byte{intervalVersion + 1}, b[1:]...)
	_, err = decodeInterval[ivVal, string, int](bad)
	require.ErrorIs(t, err, stream.ErrCorruptCheckpoint, "version")
}

type ivOpaque struct{ n int }

func TestIntervalStateOfUnencodableValueFails(t *testing.T) {
	t.Parallel()
	st := &intervalState[ivOpaque, int, int]{Keys: []int{1}, As: [][]heldState[ivOpaque]{{{T: 1, V: ivOpaque{1}}}}, Bs: [][]heldState[int]{nil}}
	_, err := encodeInterval(st)
	assert.ErrorContains(t, err, "gob")
}
