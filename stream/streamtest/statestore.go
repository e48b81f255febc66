package streamtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/brook-streams/brook/stream"
)

var errScanStop = errors.New("streamtest: scan stopped")

// TestStateStore checks the contract every [stream.StateStore] must keep,
// as [TestSource] does for sources. open returns a new, empty store for the
// instance info describes (each sub-test opens its own); the test uses key
// groups 4 to 6 of instance 1 of 2 in a pipeline of 8 key groups.
//   - Get finds what Put stored, in its key group only; Put replaces;
//     Delete removes, and deleting a key that is not there is no error;
//   - Put copies its key and value: the caller reuses its buffers;
//   - keys and values are any bytes (zero bytes, a key that is a prefix of
//     another, an empty value);
//   - Scan visits every entry of its group once, with its value, and
//     returns the first error its function returns.
//
// Call it from a test of your store; it runs sub-tests.
func TestStateStore(t *testing.T, open func(t *testing.T, info stream.StoreInfo) stream.StateStore) {
	t.Helper()
	info := stream.StoreInfo{Operator: "conformance", Instance: 1, Parallelism: 2, MaxParallelism: 8,
		KeyGroups: stream.KeyGroupRangeOf(1, 2, 8)}
	const g, other = 4, 5
	get := func(t *testing.T, s stream.StateStore, g int, key string) (string, bool) {
		t.Helper()
		v, ok, err := s.Get(g, []byte(key))
		if err != nil {
			t.Fatalf("Get(%d, %q): %v", g, key, err)
		}
		return string(v), ok
	}
	put := func(t *testing.T, s stream.StateStore, g int, key, value string) {
		t.Helper()
		if err := s.Put(g, []byte(key), []byte(value)); err != nil {
			t.Fatalf("Put(%d, %q): %v", g, key, err)
		}
	}
	want := func(t *testing.T, s stream.StateStore, g int, key, value string, ok bool) {
		t.Helper()
		if v, found := get(t, s, g, key); found != ok || v != value {
			t.Errorf("Get(%d, %q) = %q, %v; want %q, %v", g, key, v, found, value, ok)
		}
	}
	t.Run("get put delete", func(t *testing.T) {
		s := open(t, info)
		want(t, s, g, "a", "", false)
		put(t, s, g, "a", "1")
		want(t, s, g, "a", "1", true)
		want(t, s, other, "a", "", false)
		put(t, s, g, "a", "22")
		want(t, s, g, "a", "22", true)
		if err := s.Delete(g, []byte("a")); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		want(t, s, g, "a", "", false)
		if err := s.Delete(g, []byte("a")); err != nil {
			t.Errorf("Delete of a key that is not there: %v", err)
		}
	})
	t.Run("put copies", func(t *testing.T) {
		s := open(t, info)
		key, val := []byte("key"), []byte("value")
		if err := s.Put(g, key, val); err != nil {
			t.Fatal(err)
		}
		copy(key, "xxx")
		copy(val, "XXXXX")
		want(t, s, g, "key", "value", true)
		want(t, s, g, "xxx", "", false)
	})
	t.Run("any bytes", func(t *testing.T) {
		s := open(t, info)
		put(t, s, g, "\x00", "zero")
		put(t, s, g, "\x00\x00", "")
		put(t, s, g, "ab", "\x00\xff")
		put(t, s, g, "a", "prefix")
		want(t, s, g, "\x00", "zero", true)
		want(t, s, g, "\x00\x00", "", true)
		want(t, s, g, "ab", "\x00\xff", true)
		want(t, s, g, "a", "prefix", true)
		want(t, s, g, "", "", false)
	})
	t.Run("scan", func(t *testing.T) {
		s := open(t, info)
		entries := map[string]string{}
		for i := range 50 {
			k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i*i)
			put(t, s, g, k, v)
			entries[k] = v
		}
		put(t, s, other, "k1", "of another group")
		if err := s.Delete(g, []byte("k7")); err != nil {
			t.Fatal(err)
		}
		delete(entries, "k7")
		seen := map[string]string{}
		err := s.Scan(g, func(key, value []byte) error {
			if _, dup := seen[string(key)]; dup {
				t.Errorf("Scan visited %q twice", key)
			}
			seen[string(key)] = string(bytes.Clone(value))
			return nil
		})
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if len(seen) != len(entries) {
			t.Errorf("Scan visited %d entries, want %d", len(seen), len(entries))
		}
		for k, v := range entries {
			if seen[k] != v {
				t.Errorf("Scan gave %q = %q, want %q", k, seen[k], v)
			}
		}
		n := 0
		err = s.Scan(g, func([]byte, []byte) error {
			if n++; n == 3 {
				return errScanStop
			}
			return nil
		})
		if !errors.Is(err, errScanStop) || n != 3 {
			t.Errorf("Scan returned %v after %d calls, want the function's error after 3", err, n)
		}
		empty := 0
		if err := s.Scan(6, func([]byte, []byte) error { empty++; return nil }); err != nil || empty != 0 {
			t.Errorf("Scan of an empty group: %d entries, %v", empty, err)
		}
	})
}
