package redisstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/internal/redistest"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/redisstore"
)

func TestTasksFenceAnOlderOwner(t *testing.T) {
	client := redistest.Start(t)
	ctx := context.Background()
	tasks := redisstore.NewTasks(client, "job", redisstore.Keep(2))
	cp := func(id int64) *stream.Checkpoint {
		return &stream.Checkpoint{ID: id, States: map[string][]byte{"op/0": {byte(id)}}}
	}

	old, err := tasks.Claim(ctx, "plays-0")
	require.NoError(t, err)
	latest, err := old.Latest(ctx)
	require.NoError(t, err)
	assert.Nil(t, latest, "a new task has no checkpoint")
	for id := int64(1); id <= 3; id++ {
		require.NoError(t, old.Save(ctx, cp(id)))
	}

	other, err := tasks.Claim(ctx, "plays-1")
	require.NoError(t, err)
	require.NoError(t, other.Save(ctx, cp(9)), "another task's claim does not fence this one")
	require.NoError(t, old.Save(ctx, cp(4)))

	next, err := tasks.Claim(ctx, "plays-0")
	require.NoError(t, err)
	latest, err = next.Latest(ctx)
	require.NoError(t, err)
	require.NotNil(t, latest)
	assert.Equal(t, int64(4), latest.ID, "the new owner restores the old owner's newest checkpoint")

	err = old.Save(ctx, cp(5))
	require.ErrorIs(t, err, stream.ErrFenced, "the older owner is fenced")
	latest, err = next.Latest(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), latest.ID, "a fenced save wrote nothing")

	require.NoError(t, next.Save(ctx, cp(5)))
	ids, err := client.ZRange(ctx, "{job:plays-0}:ids", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"4", "5"}, ids, "only the newest two kept")
	n, err := client.Exists(ctx, "{job:plays-0}:1", "{job:plays-0}:2", "{job:plays-0}:3").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "pruned checkpoints deleted")
	latest, err = other.Latest(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(9), latest.ID)
}

// TestTasksListAndRead: List names every claimed task; Latest reads a
// task's newest checkpoint without claiming it, so the owner's next Save
// still succeeds.
func TestTasksListAndRead(t *testing.T) {
	client := redistest.Start(t)
	ctx := context.Background()
	tasks := redisstore.NewTasks(client, "rd")
	names, err := tasks.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, names)
	owner, err := tasks.Claim(ctx, "t-1")
	require.NoError(t, err)
	_, err = tasks.Claim(ctx, "t-0")
	require.NoError(t, err)
	names, err = tasks.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"t-0", "t-1"}, names)

	cp, err := tasks.Latest(ctx, "t-1")
	require.NoError(t, err)
	assert.Nil(t, cp, "nothing stored yet")
	require.NoError(t, owner.Save(ctx, &stream.Checkpoint{ID: 7, States: map[string][]byte{"op/0": {7}}}))
	cp, err = tasks.Latest(ctx, "t-1")
	require.NoError(t, err)
	require.NotNil(t, cp)
	assert.Equal(t, int64(7), cp.ID)
	assert.Equal(t, []byte{7}, cp.States["op/0"])
	require.NoError(t, owner.Save(ctx, &stream.Checkpoint{ID: 8, States: map[string][]byte{}}), "reading did not fence the owner")
	_, err = tasks.Latest(ctx, "a{b}")
	assert.ErrorIs(t, err, stream.ErrInvalid)
}
