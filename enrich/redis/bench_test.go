package redis_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/enrich/redis"
	"github.com/brook-streams/brook/stream"
)

// BenchmarkRedisLookup compares a lookup join on a Redis table (cache off)
// resolving batches of records with one pipelined round trip against one
// GET round trip per record, synchronously and asynchronously (100 GETs in
// flight, over the client's connection pool), and a hand-written loop of
// GETs as baseline.
func BenchmarkRedisLookup(b *testing.B) {
	s := startRedis(b)
	c, _ := newClient(b, s)
	ctx := context.Background()
	const keys, n = 1000, 5000
	for i := range keys {
		require.NoError(b, c.Set(ctx, trackKey(strconv.Itoa(i)), "title "+strconv.Itoa(i), 0).Err())
	}
	in := make([]stream.Record[play], n)
	for i := range in {
		in[i] = stream.At(play{ID: i, Track: strconv.Itoa(i * 7919 % keys)}, stream.Time(i))
	}
	b.Run("hand-written-get-per-record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range in {
				if _, err := c.Get(ctx, trackKey(r.Value.Track)).Result(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("brook/async/in-flight=100", func(b *testing.B) {
		b.ReportAllocs()
		tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(0))
		require.NoError(b, err)
		for b.Loop() {
			p := stream.New()
			e := enrich.Lookup(stream.From(p, stream.Records(in)), tbl, func(p play) string { return p.Track }, joinPlay,
				enrich.Async(stream.MaxInFlight(100)))
			stream.To(e.Stream, stream.Discard[joined]())
			if err := p.Run(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, batch := range []int{1, 16, 256} {
		b.Run("brook/batch="+strconv.Itoa(batch), func(b *testing.B) {
			b.ReportAllocs()
			tbl, err := redis.NewStringTable(c, trackKey, decodeTitle, redis.CacheSize(0))
			require.NoError(b, err)
			for b.Loop() {
				p := stream.New()
				e := enrich.Lookup(stream.From(p, stream.Records(in)), tbl, func(p play) string { return p.Track }, joinPlay, enrich.Batch(batch))
				stream.To(e.Stream, stream.Discard[joined]())
				if err := p.Run(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
