package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/enrich/redis"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const redisServer = "/usr/bin/redis-server"

// server is a redis-server the test started on a free loopback port.
type server struct {
	addr string
	once sync.Once
	cmd  *exec.Cmd
}

// startRedis starts a redis-server for t and stops it in t.Cleanup. It
// skips t when the binary is absent, unless CI is set.
func startRedis(tb testing.TB) *server {
	tb.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("%s not available: %v", redisServer, err)
		}
		tb.Fatalf("CI is set and %s is missing: %v", redisServer, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port)}
	s.cmd = exec.Command(redisServer, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	require.NoError(tb, s.cmd.Start())
	tb.Cleanup(s.stop)
	c := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s did not answer: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the server until it accepts connections
	}
}

// stop kills the server and waits for it to exit.
func (s *server) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// roundTrips counts the client's round trips that read rows (GET, HGETALL),
// leaving out the connection handshakes.
type roundTrips struct{ n atomic.Int64 }

func reads(cmds ...goredis.Cmder) bool {
	for _, c := range cmds {
		if n := c.Name(); n == "get" || n == "hgetall" {
			return true
		}
	}
	return false
}

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if reads(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if reads(cmds...) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func newClient(t testing.TB, s *server) (*goredis.Client, *roundTrips) {
	c := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: 2, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	h := &roundTrips{}
	c.AddHook(h)
	return c, h
}

type track struct{ Title, Artist string }

func trackKey(id string) string { return "track:" + id }

func decodeTitle(s string) (track, error) { return track{Title: s}, nil }

func TestStringTable(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, trips := newClient(t, s)
	ctx := context.Background()
	require.NoError(t, c.MSet(ctx, "track:a", "Alpha", "track:b", "Beta", "track:c", "Gamma").Err())
	tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(0))
	require.NoError(t, err)

	v, ok, err := tbl.Get(ctx, "a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, track{Title: "Alpha"}, v)
	_, ok, err = tbl.Get(ctx, "zz")
	require.NoError(t, err)
	assert.False(t, ok, "a missing key is not an error")

	keys := []string{"c", "x", "a", "c", "b", "y"}
	rows, found := make([]track, len(keys)), make([]bool, len(keys))
	before := trips.n.Load()
	require.NoError(t, tbl.GetMany(ctx, keys, rows, found))
	assert.Equal(t, int64(1), trips.n.Load()-before, "one round trip for the whole batch")
	assert.Equal(t, []bool{true, false, true, true, true, false}, found)
	assert.Equal(t, []string{"Gamma", "", "Alpha", "Gamma", "Beta", ""},
		[]string{rows[0].Title, rows[1].Title, rows[2].Title, rows[3].Title, rows[4].Title, rows[5].Title})
	assert.Equal(t, redis.Stats{Misses: 2 + 5, RoundTrips: 3}, tbl.Stats(), "a repeated key is read once")
	assert.Error(t, tbl.GetMany(ctx, keys, rows[:1], found), "mismatched lengths")
}

func TestHashTable(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, trips := newClient(t, s)
	ctx := context.Background()
	require.NoError(t, c.HSet(ctx, "track:a", "title", "Alpha", "artist", "Julia Wolf").Err())
	require.NoError(t, c.HSet(ctx, "track:b", "title", "Beta").Err())
	require.NoError(t, c.Set(ctx, "track:s", "a string, not a hash", 0).Err())
	decode := func(m map[string]string) (track, error) {
		if m["title"] == "" {
			return track{}, errors.New("no title")
		}
		return track{Title: m["title"], Artist: m["artist"]}, nil
	}
	tbl, err := redis.NewHashTable(c, trackKey, decode)
	require.NoError(t, err)
	keys := []string{"a", "b", "nope"}
	rows, found := make([]track, 3), make([]bool, 3)
	require.NoError(t, tbl.GetMany(ctx, keys, rows, found))
	assert.Equal(t, []track{{"Alpha", "Julia Wolf"}, {"Beta", ""}, {}}, rows)
	assert.Equal(t, []bool{true, true, false}, found)

	// The wrong Redis type is an error, not a missing row.
	_, _, err = tbl.Get(ctx, "s")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WRONGTYPE")

	// Cached: no further round trips for known keys and known absences.
	before := trips.n.Load()
	require.NoError(t, tbl.GetMany(ctx, keys, rows, found))
	assert.Equal(t, before, trips.n.Load())
	assert.Equal(t, []bool{true, true, false}, found)
	assert.Equal(t, int64(3), tbl.Stats().Hits)
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, _ := newClient(t, s)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "n:1", "12", 0).Err())
	require.NoError(t, c.Set(ctx, "n:2", "twelve", 0).Err())
	tbl, err := redis.NewStringTable(c, func(k int) string { return "n:" + strconv.Itoa(k) }, strconv.Atoi)
	require.NoError(t, err)
	v, ok, err := tbl.Get(ctx, 1)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 12, v)
	rows, found := make([]int, 2), make([]bool, 2)
	err = tbl.GetMany(ctx, []int{1, 2}, rows, found)
	var de *redis.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "n:2", de.Key)
	assert.ErrorIs(t, err, strconv.ErrSyntax)
}

func TestCacheTTLAndBound(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, trips := newClient(t, s)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "track:a", "v1", 0).Err())
	clk := streamtest.NewClock(time.Unix(1000, 0))
	tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(2), redis.CacheTTL(time.Minute), redis.WithClock(clk))
	require.NoError(t, err)
	get := func(k string) (string, bool) {
		t.Helper()
		v, ok, err := tbl.Get(ctx, k)
		require.NoError(t, err)
		return v.Title, ok
	}
	v, _ := get("a")
	assert.Equal(t, "v1", v)
	_, ok := get("b")
	assert.False(t, ok)

	require.NoError(t, c.Set(ctx, "track:a", "v2", 0).Err())
	require.NoError(t, c.Set(ctx, "track:b", "born", 0).Err())
	n := trips.n.Load()
	v, _ = get("a")
	assert.Equal(t, "v1", v, "cached row within the TTL")
	_, ok = get("b")
	assert.False(t, ok, "cached absence within the TTL")
	assert.Equal(t, n, trips.n.Load(), "no round trip")

	clk.Advance(time.Minute)
	v, _ = get("a")
	assert.Equal(t, "v2", v, "re-read after the TTL")
	v, ok = get("b")
	assert.True(t, ok)
	assert.Equal(t, "born", v)
	assert.Equal(t, n+2, trips.n.Load())

	// The cache holds two keys: reading a third evicts the least recent (a).
	_, _ = get("c")
	assert.Equal(t, 2, tbl.CachedKeys())
	n = trips.n.Load()
	_, _ = get("b")
	assert.Equal(t, n, trips.n.Load(), "b still cached")
	_, _ = get("a")
	assert.Equal(t, n+1, trips.n.Load(), "a was evicted")
}

func TestNewTableInvalid(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	cases := []struct {
		name string
		make func() error
	}{
		{"nil client", func() error { _, err := redis.NewStringTable[string, track](nil, trackKey, decodeTitle); return err }},
		{"nil key", func() error { _, err := redis.NewStringTable[string](c, nil, decodeTitle); return err }},
		{"nil decode", func() error { _, err := redis.NewStringTable[string, track](c, trackKey, nil); return err }},
		{"negative cache", func() error {
			_, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(-1))
			return err
		}},
		{"zero TTL", func() error { _, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheTTL(0)); return err }},
		{"nil clock", func() error {
			_, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.WithClock(nil))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, tc.make(), stream.ErrInvalid)
		})
	}
}

type play struct {
	ID    int
	Track string
}

type joined struct {
	ID    int
	Title string
}

func joinPlay(p play, t track) joined { return joined{p.ID, t.Title} }

// TestLookupWithRedisTable runs a batched lookup join on a Redis table and
// checks it against the map it was loaded from.
func TestLookupWithRedisTable(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, trips := newClient(t, s)
	ctx := context.Background()
	catalog := map[string]string{}
	for i := range 40 {
		catalog[strconv.Itoa(i)] = "title " + strconv.Itoa(i)
		require.NoError(t, c.Set(ctx, trackKey(strconv.Itoa(i)), catalog[strconv.Itoa(i)], 0).Err())
	}
	const n = 1000
	in := make([]stream.Record[play], n)
	for i := range in {
		in[i] = stream.At(play{ID: i, Track: strconv.Itoa(i * 7 % 50)}, stream.Time(i)) // 40..49 are missing
	}
	for _, cache := range []int{0, 100} {
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
			tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(cache))
			require.NoError(t, err)
			before := trips.n.Load()
			p := stream.New()
			e := enrich.Lookup(stream.From(p, stream.Records(in)), tbl, func(p play) string { return p.Track }, joinPlay, enrich.Batch(64))
			out := stream.Collect[joined]()
			dead := stream.Collect[stream.DeadLetter[play]]()
			stream.To(e.Stream, out)
			stream.To(e.DeadLetters(), dead)
			require.NoError(t, p.Run(ctx))
			var want []joined
			var wantDead []int
			for _, r := range in {
				if title, ok := catalog[r.Value.Track]; ok {
					want = append(want, joined{r.Value.ID, title})
				} else {
					wantDead = append(wantDead, r.Value.ID)
				}
			}
			assert.Equal(t, want, out.Values())
			var gotDead []int
			for _, d := range dead.Values() {
				gotDead = append(gotDead, d.Record.Value.ID)
				assert.ErrorIs(t, d.Err, enrich.ErrMissingKey)
			}
			assert.Equal(t, wantDead, gotDead)
			got := trips.n.Load() - before
			if cache == 0 {
				assert.Equal(t, int64((n+63)/64), got, "one round trip per batch")
			} else {
				assert.LessOrEqual(t, got, int64(2), "50 distinct keys: the first batch or two read them all")
			}
		})
	}
}

// TestAsyncLookupWithRedisTable runs an asynchronous lookup join on a
// Redis table, ordered and unordered, and checks it against the map it was
// loaded from: a round trip per record that missed the cache, with up to 32
// of them in flight.
func TestAsyncLookupWithRedisTable(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, trips := newClient(t, s)
	ctx := context.Background()
	catalog := map[string]string{}
	for i := range 40 {
		catalog[strconv.Itoa(i)] = "title " + strconv.Itoa(i)
		require.NoError(t, c.Set(ctx, trackKey(strconv.Itoa(i)), catalog[strconv.Itoa(i)], 0).Err())
	}
	const n = 1000
	in := make([]stream.Record[play], n)
	for i := range in {
		in[i] = stream.At(play{ID: i, Track: strconv.Itoa(i * 7 % 50)}, stream.Time(i)) // 40..49 are missing
	}
	var want []joined
	var wantDead []int
	for _, r := range in {
		if title, ok := catalog[r.Value.Track]; ok {
			want = append(want, joined{r.Value.ID, title})
		} else {
			wantDead = append(wantDead, r.Value.ID)
		}
	}
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(0))
			require.NoError(t, err)
			before := trips.n.Load()
			opts := []stream.AsyncOption{stream.MaxInFlight(32), stream.RequestTimeout(10 * time.Second)}
			if unordered {
				opts = append(opts, stream.Unordered())
			}
			p := stream.New()
			e := enrich.Lookup(stream.From(p, stream.Records(in)), tbl, func(p play) string { return p.Track }, joinPlay, enrich.Async(opts...))
			out := stream.Collect[joined]()
			dead := stream.Collect[stream.DeadLetter[play]]()
			stream.To(e.Stream, out)
			stream.To(e.DeadLetters(), dead)
			require.NoError(t, p.Run(ctx))
			got := out.Values()
			var gotDead []int
			for _, d := range dead.Values() {
				gotDead = append(gotDead, d.Record.Value.ID)
				assert.ErrorIs(t, d.Err, enrich.ErrMissingKey)
			}
			if unordered {
				slices.SortFunc(got, func(a, b joined) int { return a.ID - b.ID })
				slices.Sort(gotDead)
			}
			assert.Equal(t, want, got)
			assert.Equal(t, wantDead, gotDead)
			assert.Equal(t, int64(n), trips.n.Load()-before, "one round trip per record")
		})
	}
}

// TestLookupServerStoppedMidRun stops Redis while a lookup join runs: the
// run fails with the connection error, and every record that came out was
// joined.
func TestLookupServerStoppedMidRun(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	c, _ := newClient(t, s)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "track:a", "Alpha", 0).Err())
	tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(0))
	require.NoError(t, err)

	p := stream.New()
	src := make(chan play)
	e := enrich.Lookup(stream.From(p, stream.Chan(src)), tbl, func(p play) string { return p.Track }, joinPlay, enrich.Batch(4))
	out := make(chan joined, 100)
	stream.To(e.Stream, stream.ChanSink(out))
	stream.To(e.DeadLetters(), stream.Discard[stream.DeadLetter[play]]())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	for i := range 4 { // a full batch
		src <- play{ID: i, Track: "a"}
	}
	for i := range 4 {
		assert.Equal(t, joined{i, "Alpha"}, <-out)
	}
	s.stop()
	sent := 0
	var runErr error
send:
	for i := 4; i < 100; i++ {
		select {
		case src <- play{ID: i, Track: "a"}:
			sent++
		case runErr = <-done:
			break send
		}
	}
	if runErr == nil {
		close(src)
		runErr = <-done
	}
	require.Error(t, runErr)
	t.Logf("run error: %v", runErr)
	var oe *stream.OperatorError
	require.ErrorAs(t, runErr, &oe)
	assert.Equal(t, "source.lookup", oe.Op)
	assert.Contains(t, runErr.Error(), "redis table")
	var ne net.Error
	assert.ErrorAs(t, runErr, &ne, "the cause is the network error")
	assert.Empty(t, out, "no record came out after the server stopped")
}
