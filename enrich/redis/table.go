package redis

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
)

// Option configures a [Table]. Options are values of a sealed interface:
// only this package defines them.
type Option interface{ apply(*config) }

type config struct {
	cacheSize int
	ttl       time.Duration
	clock     stream.Clock
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// CacheSize bounds the table's cache to n keys (default 10000); the least
// recently used key is evicted first. Zero disables the cache: every lookup
// goes to Redis.
func CacheSize(n int) Option { return optionFunc(func(c *config) { c.cacheSize = n }) }

// CacheTTL sets how long a cached row — or the absence of a key — is used
// before it is read from Redis again (default one minute). A row changed in
// Redis is therefore seen at most this late.
func CacheTTL(d time.Duration) Option { return optionFunc(func(c *config) { c.ttl = d }) }

// WithClock sets the clock the cache expiry is measured with (default
// [stream.SystemClock]).
func WithClock(clk stream.Clock) Option { return optionFunc(func(c *config) { c.clock = clk }) }

// DecodeError is returned when a row read from Redis cannot be decoded: the
// lookup fails the run with it rather than join a wrong row.
type DecodeError struct {
	Key string // the Redis key
	Err error
}

func (e *DecodeError) Error() string { return "redis table: decode " + e.Key + ": " + e.Err.Error() }

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Stats are a table's counters since it was made.
type Stats struct {
	Hits       int64 // keys answered from the cache (rows and known absences)
	Misses     int64 // keys read from Redis
	RoundTrips int64 // Redis round trips (one per Get or GetMany that missed the cache)
}

// Table is an [enrich.Table] whose rows live in Redis, one Redis key per
// row, either as a string ([NewStringTable]) or as a hash
// ([NewHashTable]). GetMany reads all the keys it does not find in its cache
// in one pipelined round trip; rows and absences are cached in a bounded LRU
// cache with a TTL.
//
// Failures: a Redis error is retried by the client as its options say
// (go-redis: MaxRetries, default 3, with backoff); when it still fails, Get
// and GetMany return the error, and a [enrich.Lookup] fails the run with it.
// No record is passed on unjoined. A row that does not decode is a
// [*DecodeError].
//
// A Table is safe for concurrent use.
type Table[K comparable, V any] struct {
	client goredis.Cmdable
	key    func(K) string
	fetch  func(ctx context.Context, p goredis.Pipeliner, key string) func() (V, bool, error)
	cache  *lru[K, V]
	clock  stream.Clock

	hits, misses, trips atomic.Int64
}

var _ enrich.Table[string, int] = (*Table[string, int])(nil)

// NewStringTable returns a table whose row for k is the Redis string at
// key(k), decoded with decode. A key that does not exist is a missing row.
func NewStringTable[K comparable, V any](client goredis.Cmdable, key func(K) string, decode func(string) (V, error), opts ...Option) (*Table[K, V], error) {
	if decode == nil {
		return nil, fmt.Errorf("%w: redis table: nil decode function", stream.ErrInvalid)
	}
	fetch := func(ctx context.Context, p goredis.Pipeliner, k string) func() (V, bool, error) {
		cmd := p.Get(ctx, k)
		return func() (V, bool, error) {
			var zero V
			s, err := cmd.Result()
			if errors.Is(err, goredis.Nil) {
				return zero, false, nil
			}
			if err != nil {
				return zero, false, err
			}
			v, err := decode(s)
			if err != nil {
				return zero, false, &DecodeError{Key: k, Err: err}
			}
			return v, true, nil
		}
	}
	return newTable(client, key, fetch, opts)
}

// NewHashTable returns a table whose row for k is the Redis hash at key(k)
// (all its fields, HGETALL), decoded with decode. A key that does not exist
// (an empty hash) is a missing row.
func NewHashTable[K comparable, V any](client goredis.Cmdable, key func(K) string, decode func(map[string]string) (V, error), opts ...Option) (*Table[K, V], error) {
	if decode == nil {
		return nil, fmt.Errorf("%w: redis table: nil decode function", stream.ErrInvalid)
	}
	fetch := func(ctx context.Context, p goredis.Pipeliner, k string) func() (V, bool, error) {
		cmd := p.HGetAll(ctx, k)
		return func() (V, bool, error) {
			var zero V
			m, err := cmd.Result()
			if err != nil {
				return zero, false, err
			}
			if len(m) == 0 {
				return zero, false, nil
			}
			v, err := decode(m)
			if err != nil {
				return zero, false, &DecodeError{Key: k, Err: err}
			}
			return v, true, nil
		}
	}
	return newTable(client, key, fetch, opts)
}

func newTable[K comparable, V any](client goredis.Cmdable, key func(K) string, fetch func(context.Context, goredis.Pipeliner, string) func() (V, bool, error), opts []Option) (*Table[K, V], error) {
	cfg := config{cacheSize: 10_000, ttl: time.Minute, clock: stream.SystemClock{}}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: redis table: nil client", stream.ErrInvalid)
	case key == nil:
		return nil, fmt.Errorf("%w: redis table: nil key function", stream.ErrInvalid)
	case cfg.cacheSize < 0:
		return nil, fmt.Errorf("%w: redis table: cache size %d < 0", stream.ErrInvalid, cfg.cacheSize)
	case cfg.ttl <= 0 && cfg.cacheSize > 0:
		return nil, fmt.Errorf("%w: redis table: cache TTL %v <= 0", stream.ErrInvalid, cfg.ttl)
	case cfg.clock == nil:
		return nil, fmt.Errorf("%w: redis table: nil clock", stream.ErrInvalid)
	}
	t := &Table[K, V]{client: client, key: key, fetch: fetch, clock: cfg.clock}
	if cfg.cacheSize > 0 {
		t.cache = newLRU[K, V](cfg.cacheSize, cfg.ttl)
	}
	return t, nil
}

// Get returns the row of key, from the cache or with one round trip.
func (t *Table[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	var now time.Time
	if t.cache != nil {
		now = t.clock.Now()
		if v, found, ok := t.cache.get(key, now); ok {
			t.hits.Add(1)
			return v, found, nil
		}
	}
	t.misses.Add(1)
	t.trips.Add(1)
	p := t.client.Pipeline()
	res := t.fetch(ctx, p, t.key(key))
	_, _ = p.Exec(ctx) // errors are read per command
	v, found, err := res()
	if err != nil {
		var zero V
		return zero, false, fmt.Errorf("redis table: get %q: %w", t.key(key), err)
	}
	if t.cache != nil {
		t.cache.put(key, v, found, now)
	}
	return v, found, nil
}

// GetMany looks keys up: those in the cache from there, all others in one
// pipelined round trip (a key repeated in keys is read once).
func (t *Table[K, V]) GetMany(ctx context.Context, keys []K, rows []V, found []bool) error {
	if len(rows) != len(keys) || len(found) != len(keys) {
		return fmt.Errorf("redis table: GetMany with %d keys, %d rows, %d found flags", len(keys), len(rows), len(found))
	}
	var now time.Time
	if t.cache != nil {
		now = t.clock.Now()
	}
	var p goredis.Pipeliner
	var todo map[K]int // key -> index in res
	var res []func() (V, bool, error)
	for i, k := range keys {
		if t.cache != nil {
			if v, f, ok := t.cache.get(k, now); ok {
				rows[i], found[i] = v, f
				t.hits.Add(1)
				continue
			}
		}
		if todo == nil {
			todo = make(map[K]int, len(keys)-i)
			p = t.client.Pipeline()
		}
		if _, ok := todo[k]; ok {
			continue
		}
		todo[k] = len(res)
		res = append(res, t.fetch(ctx, p, t.key(k)))
	}
	if todo == nil {
		return nil
	}
	t.misses.Add(int64(len(res)))
	t.trips.Add(1)
	_, _ = p.Exec(ctx) // errors are read per command
	type row struct {
		v     V
		found bool
	}
	got := make([]row, len(res))
	for k, j := range todo {
		v, f, err := res[j]()
		if err != nil {
			return fmt.Errorf("redis table: pipelined read of %d keys, %q failed: %w", len(res), t.key(k), err)
		}
		got[j] = row{v, f}
		if t.cache != nil {
			t.cache.put(k, v, f, now)
		}
	}
	// The cache is only written after the first pass, so a key is either
	// answered from the cache at every position or read at every position.
	for i, k := range keys {
		if j, ok := todo[k]; ok {
			rows[i], found[i] = got[j].v, got[j].found
		}
	}
	return nil
}

// Stats returns the table's counters.
func (t *Table[K, V]) Stats() Stats {
	return Stats{Hits: t.hits.Load(), Misses: t.misses.Load(), RoundTrips: t.trips.Load()}
}

// CachedKeys returns the number of keys in the cache.
func (t *Table[K, V]) CachedKeys() int {
	if t.cache == nil {
		return 0
	}
	return t.cache.len()
}
