package enrich

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Table is a keyed collection of rows that a [Lookup] join reads.
//
// Get returns the row of key and whether it exists; a non-nil error means
// the table could not answer (the lookup fails the run), never that the key
// is missing. GetMany looks up keys in one go — one round trip for a remote
// table — and stores the row of keys[i] in rows[i] and whether it exists in
// found[i]; rows and found have the length of keys. On error the contents of
// rows and found are unspecified.
//
// Implementations must be safe for concurrent use: every parallel instance
// of a lookup operator calls them from its own goroutine.
type Table[K comparable, V any] interface {
	Get(ctx context.Context, key K) (V, bool, error)
	GetMany(ctx context.Context, keys []K, rows []V, found []bool) error
}

// TableFunc adapts a function to a [Table]. Its GetMany calls the function
// once per key.
type TableFunc[K comparable, V any] func(ctx context.Context, key K) (V, bool, error)

// Get calls f(ctx, key).
func (f TableFunc[K, V]) Get(ctx context.Context, key K) (V, bool, error) { return f(ctx, key) }

// GetMany calls f for every key, stopping at the first error.
func (f TableFunc[K, V]) GetMany(ctx context.Context, keys []K, rows []V, found []bool) error {
	if err := checkLens(len(keys), len(rows), len(found)); err != nil {
		return err
	}
	for i, k := range keys {
		v, ok, err := f(ctx, k)
		if err != nil {
			return err
		}
		rows[i], found[i] = v, ok
	}
	return nil
}

func checkLens(keys, rows, found int) error {
	if rows != keys || found != keys {
		return fmt.Errorf("enrich: GetMany with %d keys, %d rows, %d found flags", keys, rows, found)
	}
	return nil
}

// MapTable is an in-memory [Table] backed by a Go map that can be replaced
// atomically while pipelines read it: [MapTable.Swap] reloads the whole
// table without a restart. Readers never block and never see a half-loaded
// table; a record looked up after Swap returns sees the new rows, one looked
// up concurrently with it sees the old or the new rows. A GetMany call reads
// one version for its whole batch.
//
// The zero MapTable is an empty table. A MapTable is safe for concurrent use.
type MapTable[K comparable, V any] struct {
	rows atomic.Pointer[map[K]V]
}

var _ Table[string, int] = (*MapTable[string, int])(nil)

// NewMapTable returns a table holding rows. The table takes ownership of
// the map: the caller must not modify it afterwards (build a new map and
// [MapTable.Swap] it in instead). A nil map is an empty table.
func NewMapTable[K comparable, V any](rows map[K]V) *MapTable[K, V] {
	t := &MapTable[K, V]{}
	t.Swap(rows)
	return t
}

// Swap replaces every row at once with rows and returns the previous map
// (nil if there was none). Like [NewMapTable] it takes ownership of rows.
// Readers may still be using the returned map: treat it as read-only.
func (t *MapTable[K, V]) Swap(rows map[K]V) map[K]V {
	if rows == nil {
		rows = map[K]V{}
	}
	old := t.rows.Swap(&rows)
	if old == nil {
		return nil
	}
	return *old
}

// Get returns the row of key. It never fails.
func (t *MapTable[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	v, ok := t.lookup(key)
	return v, ok, nil
}

func (t *MapTable[K, V]) lookup(key K) (V, bool) {
	if p := t.rows.Load(); p != nil {
		v, ok := (*p)[key]
		return v, ok
	}
	var zero V
	return zero, false
}

// GetMany looks every key up in one version of the table.
func (t *MapTable[K, V]) GetMany(_ context.Context, keys []K, rows []V, found []bool) error {
	if err := checkLens(len(keys), len(rows), len(found)); err != nil {
		return err
	}
	p := t.rows.Load()
	if p == nil {
		var zero V
		for i := range keys {
			rows[i], found[i] = zero, false
		}
		return nil
	}
	m := *p
	for i, k := range keys {
		rows[i], found[i] = m[k]
	}
	return nil
}

// Len returns the number of rows in the current version of the table.
func (t *MapTable[K, V]) Len() int {
	if p := t.rows.Load(); p != nil {
		return len(*p)
	}
	return 0
}
