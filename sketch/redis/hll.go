package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const (
	// DefaultBatchSize is the number of members sent in one PFADD command.
	DefaultBatchSize = 1000
	// DefaultPipelineDepth is the number of PFADD commands sent in one
	// pipelined round trip.
	DefaultPipelineDepth = 64
)

// ErrInvalidOption is wrapped by NewHLL for a nil client, an empty key or an
// out-of-range option.
var ErrInvalidOption = errors.New("sketch/redis: invalid option")

// Option configures NewHLL. It is a sealed interface: only this package's
// With… functions make one.
type Option interface{ apply(*HLL) }

type optionFunc func(*HLL)

func (f optionFunc) apply(h *HLL) { f(h) }

// WithBatchSize sets how many members one PFADD command carries (n >= 1,
// default DefaultBatchSize).
func WithBatchSize(n int) Option { return optionFunc(func(h *HLL) { h.batch = n }) }

// WithPipelineDepth sets how many PFADD commands go in one round trip
// (n >= 1, default DefaultPipelineDepth). Add with more than batch×depth
// members makes several round trips.
func WithPipelineDepth(n int) Option { return optionFunc(func(h *HLL) { h.depth = n }) }

// HLL is a HyperLogLog stored in Redis under one key. It holds no state
// besides its configuration and is safe for concurrent use.
type HLL struct {
	client goredis.UniversalClient
	key    string
	batch  int
	depth  int
}

// NewHLL returns an HLL on key, talking through client (a *redis.Client,
// *redis.ClusterClient or any redis.UniversalClient), which the caller
// keeps and closes. It does not contact Redis.
func NewHLL(client goredis.UniversalClient, key string, opts ...Option) (*HLL, error) {
	h := &HLL{client: client, key: key, batch: DefaultBatchSize, depth: DefaultPipelineDepth}
	for _, o := range opts {
		o.apply(h)
	}
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	case key == "":
		return nil, fmt.Errorf("%w: empty key", ErrInvalidOption)
	case h.batch < 1:
		return nil, fmt.Errorf("%w: batch size %d", ErrInvalidOption, h.batch)
	case h.depth < 1:
		return nil, fmt.Errorf("%w: pipeline depth %d", ErrInvalidOption, h.depth)
	}
	return h, nil
}

// Key returns the Redis key.
func (h *HLL) Key() string { return h.key }

// Add adds members with PFADD, batchSize members per command and up to
// depth commands per pipelined round trip. No members is a no-op.
func (h *HLL) Add(ctx context.Context, members ...string) error {
	return addAll(ctx, h, len(members), func(args []any, from int) {
		for i := range args {
			args[i] = members[from+i]
		}
	})
}

// AddBytes is Add for byte-slice members; Redis treats them exactly like the
// strings with the same bytes. The slices are not retained after return.
func (h *HLL) AddBytes(ctx context.Context, members ...[]byte) error {
	return addAll(ctx, h, len(members), func(args []any, from int) {
		for i := range args {
			args[i] = members[from+i]
		}
	})
}

// addAll sends n members, filled into argument slices by fill, in PFADD
// commands of h.batch members, h.depth commands per round trip.
func addAll(ctx context.Context, h *HLL, n int, fill func(args []any, from int)) error {
	if n == 0 {
		return nil
	}
	if n <= h.batch {
		args := make([]any, n)
		fill(args, 0)
		if err := h.client.PFAdd(ctx, h.key, args...).Err(); err != nil {
			return fmt.Errorf("sketch/redis: PFADD %s: %w", h.key, err)
		}
		return nil
	}
	args := make([]any, h.batch*min(h.depth, (n+h.batch-1)/h.batch))
	for start := 0; start < n; {
		_, err := h.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			used := 0
			for c := 0; c < h.depth && start < n; c++ {
				k := min(h.batch, n-start)
				batch := args[used : used+k : used+k]
				fill(batch, start)
				p.PFAdd(ctx, h.key, batch...)
				used += k
				start += k
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sketch/redis: pipelined PFADD %s: %w", h.key, err)
		}
	}
	return nil
}

// Count returns the estimated number of distinct members (PFCOUNT). A
// missing key counts 0.
func (h *HLL) Count(ctx context.Context) (uint64, error) {
	return Count(ctx, h.client, h.key)
}

// MergeFrom folds the HyperLogLogs at sources into h's key (PFMERGE key
// sources...), creating it if needed. Missing sources count as empty.
func (h *HLL) MergeFrom(ctx context.Context, sources ...string) error {
	return Merge(ctx, h.client, h.key, sources...)
}

// Expire sets a time to live on the key (EXPIRE), e.g. to drop a window's
// sketch once it can no longer be queried. It returns an error if the key
// does not exist.
func (h *HLL) Expire(ctx context.Context, ttl time.Duration) error {
	ok, err := h.client.Expire(ctx, h.key, ttl).Result()
	if err != nil {
		return fmt.Errorf("sketch/redis: EXPIRE %s: %w", h.key, err)
	}
	if !ok {
		return fmt.Errorf("sketch/redis: EXPIRE %s: no such key", h.key)
	}
	return nil
}

// Delete removes the key (DEL); deleting a missing key is not an error.
func (h *HLL) Delete(ctx context.Context) error {
	if err := h.client.Del(ctx, h.key).Err(); err != nil {
		return fmt.Errorf("sketch/redis: DEL %s: %w", h.key, err)
	}
	return nil
}

// Count returns the estimated number of distinct members in the union of
// the HyperLogLogs at keys (PFCOUNT keys...), without changing any of them.
func Count(ctx context.Context, client goredis.UniversalClient, keys ...string) (uint64, error) {
	if len(keys) == 0 {
		return 0, fmt.Errorf("%w: PFCOUNT needs a key", ErrInvalidOption)
	}
	n, err := client.PFCount(ctx, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("sketch/redis: PFCOUNT %v: %w", keys, err)
	}
	return uint64(n), nil
}

// Merge stores the union of the HyperLogLogs at dest and sources into dest
// (PFMERGE dest sources...).
func Merge(ctx context.Context, client goredis.UniversalClient, dest string, sources ...string) error {
	if err := client.PFMerge(ctx, dest, sources...).Err(); err != nil {
		return fmt.Errorf("sketch/redis: PFMERGE %s %v: %w", dest, sources, err)
	}
	return nil
}
