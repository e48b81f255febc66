package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entries lists dir's file names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteReplaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	require.NoError(t, WriteFile(path, []byte("first"), 0o644))
	require.NoError(t, WriteFile(path, []byte("second"), 0o644))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "second", string(got))
	assert.Equal(t, []string{"out.json"}, entries(t, dir), "no temporary file left")
}

// errDiskFull stands in for ENOSPC part-way through a write.
var errDiskFull = errors.New("no space left on device")

// TestFailedWriteKeepsPrevious: a writer that fails after writing part of
// the new content (as on a full disk) leaves the previous file intact and
// no temporary file behind.
func TestFailedWriteKeepsPrevious(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "snapshot.json")
	require.NoError(t, WriteFile(path, []byte(`{"good":true}`), 0o644))
	err := Write(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 4096)); err != nil {
			return err
		}
		return errDiskFull
	})
	require.ErrorIs(t, err, errDiskFull)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"good":true}`, string(got), "the previous file is intact")
	assert.Equal(t, []string{"snapshot.json"}, entries(t, dir), "the temporary file is removed")
}

func TestFailedWriteCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := Write(filepath.Join(dir, "new.html"), 0o644, func(io.Writer) error { return errDiskFull })
	require.ErrorIs(t, err, errDiskFull)
	assert.Empty(t, entries(t, dir))
}

func TestMissingDirectory(t *testing.T) {
	t.Parallel()
	err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "out"), []byte("x"), 0o644)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestSymlinkIsReplacedNotFollowed: a symlink at the destination is
// replaced by the new file; its target is not written.
func TestSymlinkIsReplacedNotFollowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
	path := filepath.Join(dir, "out")
	if err := os.Symlink(victim, path); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	require.NoError(t, WriteFile(path, []byte("new"), 0o644))
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(got))
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link itself is replaced")
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	require.NoError(t, WriteFile(path, []byte("a"), 0o600))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a new file gets perm (0600 survives any umask)")
	require.NoError(t, os.Chmod(path, 0o640))
	require.NoError(t, WriteFile(path, []byte("b"), 0o600))
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "a replaced file keeps its permissions")
}
