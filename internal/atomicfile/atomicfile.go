// Package atomicfile writes a file so that readers see either its previous
// content or the complete new one, never a torn mix, even if the writer
// fails part-way (a full disk) or the process is killed.
//
// Write creates a temporary file with a random name in the destination's
// directory, as os.CreateTemp does (O_CREATE|O_EXCL, so a planted symlink at
// the temporary name is never followed) but with the caller's permissions
// filtered by the umask, writes the content, fsyncs it, renames it over the
// destination and fsyncs the directory, so the rename itself survives a
// crash. On any failure the temporary file is removed and the destination
// is left as it was.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Write replaces the file at path with what write writes to its argument,
// atomically: if write, or any step after it, fails, the file at path is
// unchanged and the error is returned. The new file gets permissions perm
// (before the umask, as with os.WriteFile). write must not keep the writer
// after it returns.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := createTemp(dir, base, perm)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // already failing; the first error is the one to report
			_ = os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		// Keep a replaced file's permissions, as os.WriteFile does.
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// WriteFile is Write for content already in memory, like os.WriteFile.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// createTemp creates a new file "."+base+".tmp-<random>" in dir with
// O_EXCL, retrying on a name that exists.
func createTemp(dir, base string, perm os.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("atomicfile: no free temporary name for %s in %s", base, dir)
}

// syncDir fsyncs a directory, so a rename in it is durable. File systems
// that cannot sync a directory (EINVAL) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil && !errors.Is(serr, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, serr)
	}
	return cerr
}
