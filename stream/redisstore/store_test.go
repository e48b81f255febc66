package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/internal/redistest"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/redisstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSaveLatestPruneAndCorruption(t *testing.T) {
	client := redistest.Start(t)
	ctx := context.Background()
	store := redisstore.New(client, "job:ckpt", redisstore.Keep(2))

	cp, err := store.Latest(ctx)
	require.NoError(t, err)
	assert.Nil(t, cp, "no checkpoint yet")

	for id := int64(1); id <= 4; id++ {
		require.NoError(t, store.Save(ctx, &stream.Checkpoint{ID: id, States: map[string][]byte{"op/0": {byte(id)}}}))
	}
	ids, err := client.ZRange(ctx, "job:ckpt:ids", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "4"}, ids, "only the newest two kept")
	n, err := client.Exists(ctx, "job:ckpt:1", "job:ckpt:2").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "pruned checkpoints deleted")

	cp, err = store.Latest(ctx)
	require.NoError(t, err)
	require.NotNil(t, cp)
	assert.Equal(t, int64(4), cp.ID)
	assert.Equal(t, []byte{4}, cp.States["op/0"])

	// Damage the newest: Latest falls back to the previous one.
	require.NoError(t, client.SetRange(ctx, "job:ckpt:4", 8, "garbage").Err())
	cp, err = store.Latest(ctx)
	require.NoError(t, err)
	require.NotNil(t, cp)
	assert.Equal(t, int64(3), cp.ID)
}

// TestPipelineRestoresFromRedis crashes a pipeline after a checkpoint and
// restores it from Redis: the state is exactly-once.
func TestPipelineRestoresFromRedis(t *testing.T) {
	client := redistest.Start(t)
	store := redisstore.New(client, "sum")
	const n = 2000

	var resumedAt int64
	run := func(fail bool) (int64, error) {
		var sum int64
		ns := &notifyStore{CheckpointStore: store, saved: make(chan struct{})}
		p := stream.New(stream.WithCheckpoints(ns, time.Millisecond))
		src := &counter{n: n, saved: ns.saved}
		s := stream.From(p, src)
		total := stream.Apply(stream.KeyBy(s, func(v int64) int64 { return v % 3 }, stream.Parallelism(2)).Stream,
			func() stream.Operator[int64, int64] { return &summer{} }, stream.Name("sum"))
		stream.To(total, stream.SinkFunc[int64](func(_ context.Context, r stream.Record[int64]) error {
			sum += r.Value
			return nil
		}))
		if fail {
			src.failAfter = n / 2
		}
		err := p.Run(context.Background())
		resumedAt = src.start
		return sum, err
	}
	_, err := run(true)
	require.ErrorIs(t, err, errStop)
	cp, err := store.Latest(context.Background())
	require.NoError(t, err)
	require.NotNil(t, cp, "a checkpoint was taken before the crash")
	sum, err := run(false)
	require.NoError(t, err)
	assert.Positive(t, resumedAt, "the second run resumed from the checkpoint, not from the start")
	assert.Equal(t, int64(n*(n-1)/2), sum, "every record counted exactly once across the crash")
}
