package stream_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type runKey struct {
	Input string `json:"input,omitempty"`
	Seed  uint64 `json:"seed"`
}

func TestRunDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	save := func(t *testing.T, s stream.CheckpointStore, id int64) {
		t.Helper()
		require.NoError(t, s.Save(ctx, &stream.Checkpoint{ID: id, States: map[string][]byte{"op": {byte(id)}}}))
	}
	t.Run("resume only with the same key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		r, latest, err := stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 5})
		require.NoError(t, err)
		assert.Nil(t, latest, "a new directory has nothing to resume")
		assert.FileExists(t, filepath.Join(dir, "run.json"))
		save(t, r, 1)
		save(t, r, 2)

		_, latest, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 5})
		require.NoError(t, err)
		require.NotNil(t, latest)
		assert.Equal(t, int64(2), latest.ID)

		_, _, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 6})
		require.ErrorIs(t, err, stream.ErrOtherRun)
		assert.EqualError(t, err, dir+" holds checkpoints of another run (seed: 5, now 6)")
		_, _, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 5, Input: "x"})
		assert.EqualError(t, err, dir+" holds checkpoints of another run (input: none, now x)")
		_, latest, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 5})
		require.NoError(t, err, "a refused run changes nothing")
		assert.Equal(t, int64(2), latest.ID)
	})
	t.Run("checkpoints without a key, or a damaged key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, err := stream.NewDirStore(dir)
		require.NoError(t, err)
		save(t, s, 1)
		_, _, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{})
		require.ErrorIs(t, err, stream.ErrOtherRun)
		assert.EqualError(t, err, dir+" holds checkpoints but no run.json")

		require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"seed":"x"}`), 0o644))
		_, _, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{})
		require.Error(t, err)
		assert.False(t, errors.Is(err, stream.ErrOtherRun))
		assert.Contains(t, err.Error(), dir+": run.json: json: cannot unmarshal")
		require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"seed":1,"extra":2}`), 0o644))
		_, _, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 1})
		assert.ErrorContains(t, err, `unknown field "extra"`)
	})
	t.Run("torn checkpoints only: start afresh", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		torn := filepath.Join(dir, "ckpt-00000000000000000009.bin")
		require.NoError(t, os.WriteFile(torn, []byte("BRCK"), 0o644))
		r, latest, err := stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 1})
		require.NoError(t, err)
		assert.Nil(t, latest)
		assert.NoFileExists(t, torn)
		save(t, r, 1)
		_, latest, err = stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 1})
		require.NoError(t, err)
		assert.Equal(t, int64(1), latest.ID)
	})
	t.Run("Clear leaves other files alone", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		other := filepath.Join(dir, "notes.txt")
		require.NoError(t, os.WriteFile(other, []byte("keep"), 0o644))
		r, _, err := stream.OpenRunDir(ctx, dir, "run.json", runKey{})
		require.NoError(t, err)
		save(t, r, 1)
		require.NoError(t, r.Clear())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		assert.Equal(t, "notes.txt", entries[0].Name())
		_, latest, err := stream.OpenRunDir(ctx, dir, "run.json", runKey{Seed: 9})
		require.NoError(t, err, "a cleared directory takes any run")
		assert.Nil(t, latest)
	})
	t.Run("planted temporaries are removed, never written through", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ck := filepath.Join(dir, "ck")
		require.NoError(t, os.Mkdir(ck, 0o755))
		victim := filepath.Join(dir, "victim")
		require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
		planted := []string{".tmp-ckpt-1", ".run.json-2.tmp"}
		for _, n := range planted {
			require.NoError(t, os.Symlink(victim, filepath.Join(ck, n)))
		}
		_, _, err := stream.OpenRunDir(ctx, ck, "run.json", runKey{Seed: 3})
		require.NoError(t, err)
		for _, n := range planted {
			_, err := os.Lstat(filepath.Join(ck, n))
			assert.ErrorIs(t, err, os.ErrNotExist, n)
		}
		got, err := os.ReadFile(victim)
		require.NoError(t, err)
		assert.Equal(t, "precious", string(got))
		st, err := os.Lstat(filepath.Join(ck, "run.json"))
		require.NoError(t, err)
		assert.True(t, st.Mode().IsRegular())
	})
	t.Run("a key that is not an object", func(t *testing.T) {
		t.Parallel()
		_, _, err := stream.OpenRunDir(ctx, t.TempDir(), "run.json", "seed 5")
		assert.ErrorContains(t, err, "does not encode to a JSON object")
	})
}
