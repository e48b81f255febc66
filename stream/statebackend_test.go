package stream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

var errStore = errors.New("disk full")

// failingStore is a bytesStore whose Put fails from the n-th call on.
type failingStore struct {
	bytesStore
	puts, failAt int
}

func (s *failingStore) Put(g int, key, value []byte) error {
	if s.puts++; s.puts >= s.failAt {
		return errStore
	}
	return s.bytesStore.Put(g, key, value)
}

func counting(st *stream.KeyedStates) stream.KeyedFuncs[string, kv, string] {
	n := stream.NewValueState[int64](st, "n")
	return stream.KeyedFuncs[string, kv, string]{
		Process: func(c *stream.KeyedContext[string], r stream.Record[kv], out stream.Emitter[string]) error {
			v, _ := n.Value()
			n.Update(v + r.Value.V)
			return nil
		},
	}
}

func TestStateStoreErrorsFailTheRun(t *testing.T) {
	t.Parallel()
	in := []kv{{"a", 1}, {"b", 2}, {"a", 3}}
	cases := []struct {
		name string
		open func(stream.StoreInfo) (stream.StateStore, error)
		want error
	}{
		{"open fails", func(stream.StoreInfo) (stream.StateStore, error) { return nil, errStore }, errStore},
		{"open returns nil", func(stream.StoreInfo) (stream.StateStore, error) { return nil, nil }, stream.ErrInvalid},
		{"a write fails", func(info stream.StoreInfo) (stream.StateStore, error) {
			return &failingStore{bytesStore: bytesStore{info: info, groups: map[int]map[string][]byte{}, closed: new(bool)}, failAt: 2}, nil
		}, errStore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			k := stream.KeyBy(stream.From(p, stream.Slice(in)), func(v kv) string { return v.K }, stream.Parallelism(1))
			stream.To(stream.KeyedProcess(k, counting, stream.Name("count"), stream.StateIn(stream.StoredIn(tc.open))), stream.Discard[string]())
			err := p.Run(context.Background())
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, "count")
		})
	}
}

func TestStateInIsForKeyedProcessOnly(t *testing.T) {
	t.Parallel()
	p := stream.New()
	m := stream.Map(stream.From(p, stream.Slice([]int{1})), func(v int) int { return v }, stream.StateIn(stream.InMemory()))
	stream.To(m, stream.Discard[int]())
	assert.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}

func TestBytesStoreConforms(t *testing.T) {
	t.Parallel()
	streamtest.TestStateStore(t, func(_ *testing.T, info stream.StoreInfo) stream.StateStore {
		return &bytesStore{info: info, groups: map[int]map[string][]byte{}, closed: new(bool)}
	})
}
