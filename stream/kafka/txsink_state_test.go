package kafka

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

func TestTransactionalSinkStateRoundTrip(t *testing.T) {
	s := &TransactionalSink[int]{cur: 2, pending: []preCommit{{ckpt: 7, slot: 1, pid: 42, epoch: 3}, {ckpt: 8, slot: 2, pid: 43, epoch: -1}}}
	b, err := s.Snapshot()
	require.NoError(t, err)
	// The encoding of the first release: version, count, varints.
	assert.Equal(t, []byte{1, 2, 14, 1, 84, 6, 16, 2, 86, 1, 2}, b)
	r := &TransactionalSink[int]{}
	require.NoError(t, r.Restore(b))
	assert.Equal(t, 2, r.cur)
	assert.Equal(t, []preCommit{{ckpt: 7, slot: 1, pid: 42, epoch: 3}, {ckpt: 8, slot: 2, pid: 43, epoch: -1}}, r.pending)
	for name, bad := range map[string][]byte{
		"empty":         {},
		"version":       {2, 0, 0},
		"count":         {1, 200, 1},
		"slot":          {1, 1, 14, 3, 84, 6, 0},
		"epoch":         {1, 1, 14, 1, 84, 0x80, 0x80, 0x04, 0},
		"current slot":  {1, 0, 3},
		"trailing byte": {1, 0, 0, 0},
	} {
		assert.ErrorIs(t, (&TransactionalSink[int]{}).Restore(bad), stream.ErrCorruptCheckpoint, name)
	}
}
