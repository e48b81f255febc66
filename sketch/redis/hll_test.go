package redis

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redisStdErr is the standard error of Redis's 2^14-register HyperLogLog.
const redisStdErr = 0.0081

func members(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func TestAddAndCount(t *testing.T) {
	t.Parallel()
	client := startRedis(t)
	ctx := context.Background()
	cases := []struct {
		name         string
		n            int
		batch, depth int
	}{
		{"one command", 999, 1000, 64},
		{"several batches one round trip", 10_000, 1000, 64},
		{"several round trips", 10_001, 300, 4},
		{"batch of one", 50, 1, 7},
		{"large", 200_000, 1000, 64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHLL(client, "count:"+tc.name, WithBatchSize(tc.batch), WithPipelineDepth(tc.depth))
			require.NoError(t, err)
			all := members("user-", 0, tc.n)
			require.NoError(t, h.Add(ctx, all...))
			require.NoError(t, h.Add(ctx, all[:tc.n/2]...), "duplicates do not count")
			got, err := h.Count(ctx)
			require.NoError(t, err)
			if tc.n <= 1000 {
				// Redis counts small sets (sparse) almost exactly.
				assert.InDelta(t, tc.n, got, 0.01*float64(tc.n)+1)
			} else {
				assert.InEpsilon(t, tc.n, got, 4*redisStdErr)
			}
			// Every member arrived: a PFADD of any of them changes nothing.
			changed, err := client.PFAdd(ctx, h.Key(), all[tc.n-1], all[0]).Result()
			require.NoError(t, err)
			assert.Equal(t, int64(0), changed, "last and first members already present")
		})
	}
}

func TestAddBytesEqualsAdd(t *testing.T) {
	t.Parallel()
	client := startRedis(t)
	ctx := context.Background()
	s, err := NewHLL(client, "strings", WithBatchSize(100))
	require.NoError(t, err)
	b, err := NewHLL(client, "bytes", WithBatchSize(100))
	require.NoError(t, err)
	all := members("m", 0, 5000)
	raw := make([][]byte, len(all))
	for i, m := range all {
		raw[i] = []byte(m)
	}
	require.NoError(t, s.Add(ctx, all...))
	require.NoError(t, b.AddBytes(ctx, raw...))
	// The same members give the same registers, so the union counts the same.
	cs, err := s.Count(ctx)
	require.NoError(t, err)
	cu, err := Count(ctx, client, "strings", "bytes")
	require.NoError(t, err)
	assert.Equal(t, cs, cu)
	require.NoError(t, s.Add(ctx), "no members is a no-op")
	require.NoError(t, s.AddBytes(ctx), "no members is a no-op")
}

func TestMergeAndUnion(t *testing.T) {
	t.Parallel()
	client := startRedis(t)
	ctx := context.Background()
	// Three processes each count their share; the shares overlap.
	shards := []struct {
		key      string
		from, to int
	}{{"{w}:a", 0, 40_000}, {"{w}:b", 30_000, 70_000}, {"{w}:c", 60_000, 100_000}}
	for _, s := range shards {
		h, err := NewHLL(client, s.key)
		require.NoError(t, err)
		require.NoError(t, h.Add(ctx, members("u", s.from, s.to)...))
	}
	union, err := Count(ctx, client, "{w}:a", "{w}:b", "{w}:c")
	require.NoError(t, err)
	assert.InEpsilon(t, 100_000, union, 4*redisStdErr)

	total, err := NewHLL(client, "{w}:total")
	require.NoError(t, err)
	require.NoError(t, total.MergeFrom(ctx, "{w}:a", "{w}:b", "{w}:c", "{w}:missing"))
	merged, err := total.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, union, merged, "PFMERGE equals the PFCOUNT union")

	require.NoError(t, Merge(ctx, client, "{w}:ab", "{w}:a", "{w}:b"))
	ab, err := Count(ctx, client, "{w}:ab")
	require.NoError(t, err)
	assert.InEpsilon(t, 70_000, ab, 4*redisStdErr)

	missing, err := NewHLL(client, "nothing-here")
	require.NoError(t, err)
	n, err := missing.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), n)
}

func TestExpireAndDelete(t *testing.T) {
	t.Parallel()
	client := startRedis(t)
	ctx := context.Background()
	h, err := NewHLL(client, "window:1")
	require.NoError(t, err)
	require.Error(t, h.Expire(ctx, time.Hour), "no key yet")
	require.NoError(t, h.Add(ctx, "x"))
	require.NoError(t, h.Expire(ctx, time.Hour))
	ttl, err := client.TTL(ctx, "window:1").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute)
	require.NoError(t, h.Delete(ctx))
	require.NoError(t, h.Delete(ctx), "deleting a missing key is fine")
	n, err := h.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), n)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	client := startRedis(t)
	ctx := context.Background()

	// A key holding a plain string is not a HyperLogLog.
	require.NoError(t, client.Set(ctx, "plain", "value", 0).Err())
	h, err := NewHLL(client, "plain", WithBatchSize(10))
	require.NoError(t, err)
	assert.ErrorContains(t, h.Add(ctx, "a"), "WRONGTYPE")
	assert.ErrorContains(t, h.Add(ctx, members("m", 0, 100)...), "WRONGTYPE", "pipelined")
	_, err = h.Count(ctx)
	assert.Error(t, err)
	assert.Error(t, h.MergeFrom(ctx, "other"))
	_, err = Count(ctx, client)
	assert.ErrorIs(t, err, ErrInvalidOption)

	// A cancelled context stops the call.
	good, err := NewHLL(client, "good")
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = good.Add(cctx, members("m", 0, 5000)...)
	assert.ErrorIs(t, err, context.Canceled)

	// A closed client fails every call with an error, not a panic.
	closed := goredis.NewClient(&goredis.Options{Addr: client.Options().Addr})
	require.NoError(t, closed.Close())
	c, err := NewHLL(closed, "k")
	require.NoError(t, err)
	err = c.Add(ctx, "a")
	assert.True(t, errors.Is(err, goredis.ErrClosed), "%v", err)
	_, err = c.Count(ctx)
	assert.Error(t, err)
}

func TestNewHLLValidation(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialed
	t.Cleanup(func() { _ = client.Close() })
	for name, build := range map[string]func() (*HLL, error){
		"nil client": func() (*HLL, error) { return NewHLL(nil, "k") },
		"empty key":  func() (*HLL, error) { return NewHLL(client, "") },
		"batch 0":    func() (*HLL, error) { return NewHLL(client, "k", WithBatchSize(0)) },
		"depth 0":    func() (*HLL, error) { return NewHLL(client, "k", WithPipelineDepth(0)) },
	} {
		_, err := build()
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	h, err := NewHLL(client, "k")
	require.NoError(t, err)
	assert.Equal(t, "k", h.Key())
}
