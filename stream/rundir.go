package stream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// ErrOtherRun is wrapped by the error [OpenRunDir] returns for a directory
// whose checkpoints belong to another run (or to a run it cannot tell).
var ErrOtherRun = errors.New("stream: checkpoints of another run")

// RunDir is a checkpoint directory bound to one run: a [DirStore] whose
// directory also holds the run's key, a JSON object describing everything
// the run's state depends on (its input, its settings). Checkpoints are
// resumed only by a run with an equal key; another would restore state
// that does not fit it.
type RunDir struct {
	*DirStore
	keyPath string
}

// OpenRunDir opens dir (creating it) for the run described by key, a value
// that encodes to a JSON object, kept in the file keyName there. If dir
// holds an intact checkpoint, OpenRunDir returns it, once the key file
// holds an equal key: a missing key file, or a key that differs, is an
// error wrapping [ErrOtherRun] that names the first member that differs
// ("seed: 5, now 6"); a damaged key file is an error too. Otherwise the run
// starts afresh: OpenRunDir removes torn checkpoint files (their ids would
// outrank new ones) and writes the key through a new temporary file,
// fsynced and renamed, so a file planted under a temporary name is never
// written through. Temporaries a killed writer left are removed first.
func OpenRunDir(ctx context.Context, dir, keyName string, key any) (*RunDir, *Checkpoint, error) {
	want, err := json.Marshal(key)
	if err != nil {
		return nil, nil, err
	}
	if len(want) == 0 || want[0] != '{' {
		return nil, nil, fmt.Errorf("stream: OpenRunDir: the key %T does not encode to a JSON object", key)
	}
	store, err := NewDirStore(dir)
	if err != nil {
		return nil, nil, err
	}
	r := &RunDir{DirStore: store, keyPath: filepath.Join(dir, keyName)}
	if err := r.remove(func(n string) bool {
		return strings.HasPrefix(n, ckptTemp) || strings.HasPrefix(n, "."+keyName+"-")
	}); err != nil {
		return nil, nil, err
	}
	latest, err := store.Latest(ctx)
	if err != nil {
		return nil, nil, err
	}
	if latest == nil {
		if err := r.Clear(); err != nil {
			return nil, nil, err
		}
		return r, nil, r.writeKey(want)
	}
	saved, err := os.ReadFile(r.keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &otherRunError{fmt.Sprintf("%s holds checkpoints but no %s", dir, keyName)}
	}
	if err != nil {
		return nil, nil, err
	}
	// The saved key must be one of key's type, nothing more.
	typed := reflect.New(reflect.TypeOf(key))
	dec := json.NewDecoder(bytes.NewReader(saved))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed.Interface()); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", dir, keyName, err)
	}
	if saved, err = json.Marshal(typed.Elem().Interface()); err != nil {
		return nil, nil, err
	}
	if d := diffKeys(saved, want); d != "" {
		return nil, nil, &otherRunError{fmt.Sprintf("%s holds checkpoints of another run (%s)", dir, d)}
	}
	return r, latest, nil
}

type otherRunError struct{ msg string }

func (e *otherRunError) Error() string { return e.msg }
func (e *otherRunError) Unwrap() error { return ErrOtherRun }

// Clear removes the directory's checkpoints (with torn ones and
// temporaries) and then the run's key: for a finished run, so the next run
// with the directory starts afresh. Other files are left alone. The key
// goes last: a directory with checkpoints and no key is refused, never
// resumed by another run.
func (r *RunDir) Clear() error {
	err := r.remove(func(n string) bool {
		return (strings.HasPrefix(n, ckptPrefix) && strings.HasSuffix(n, ckptSuffix)) || strings.HasPrefix(n, ckptTemp)
	})
	if err == nil {
		if err = os.Remove(r.keyPath); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	return err
}

// remove removes the directory's entries whose names match.
func (r *RunDir) remove(match func(name string) bool) error {
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if match(e.Name()) {
			if err := os.Remove(filepath.Join(r.Dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// writeKey writes the key file atomically.
func (r *RunDir) writeKey(key []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, key, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	f, err := os.CreateTemp(r.Dir, "."+filepath.Base(r.keyPath)+"-*.tmp") // O_EXCL: never a planted file
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // after the rename, nothing to remove
	if err := writeSynced(f, b.Bytes()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), r.keyPath); err != nil {
		return err
	}
	return syncDir(r.Dir)
}

// diffKeys names the first member (by name) in which two encodings of a
// key differ, as "name: old, now new", or "" when they are equal.
func diffKeys(saved, want []byte) string {
	var a, b map[string]any
	for _, kv := range []struct {
		data []byte
		m    *map[string]any
	}{{saved, &a}, {want, &b}} {
		dec := json.NewDecoder(bytes.NewReader(kv.data))
		dec.UseNumber()
		_ = dec.Decode(kv.m) // encoded by json.Marshal: an object or not, both sides alike
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range a {
			yield(n)
		}
		for n := range b {
			yield(n)
		}
	})
	for _, n := range slices.Compact(names) {
		x, y := text(a, n), text(b, n)
		if x != y {
			return fmt.Sprintf("%s: %s, now %s", n, cmp.Or(x, "none"), cmp.Or(y, "none"))
		}
	}
	return ""
}

// text is member n of m as text, "" when absent.
func text(m map[string]any, n string) string {
	v, ok := m[n]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
