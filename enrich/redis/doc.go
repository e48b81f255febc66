// Package redis is an [enrich.Table] backed by Redis (github.com/redis/go-redis/v9),
// for lookup joins against reference data that lives outside the process.
//
// A row is one Redis key: a string decoded by the user's function
// ([NewStringTable]) or a hash, all its fields ([NewHashTable]). A missing
// key is a missing row, handled by the lookup's missing-key policy.
//
//	tbl, err := redis.NewStringTable(client,
//		func(id string) string { return "track:" + id },
//		decodeTrack, // func(string) (Track, error)
//		redis.CacheSize(50_000), redis.CacheTTL(5*time.Minute))
//	...
//	e := enrich.Lookup(plays, tbl, Play.TrackID, joinTrack, enrich.Batch(256))
//
// # Round trips and cache
//
// [Table.GetMany] — what a lookup with [enrich.Batch] calls — reads every key
// it does not find in its cache with one pipelined round trip, each distinct
// key once. Rows and absences are kept in a bounded LRU cache for a TTL
// ([CacheSize], [CacheTTL]), so a row changed in Redis is seen at most a TTL
// later; CacheSize(0) turns the cache off.
//
// # Synchronous batches or asynchronous lookups
//
// A lookup can also be asynchronous ([enrich.Async]): each record's Get is
// its own round trip, with up to [stream.MaxInFlight] of them in flight
// over the client's connection pool (go-redis: PoolSize, default 10 per
// CPU), results in input order or [stream.Unordered], a per-request
// timeout and retries on the pipeline's clock. It pays where the round
// trip's latency dominates (a remote server) and batches cannot fill; on a
// nearby server a batched lookup, one pipelined round trip per batch, is
// much cheaper per record (see BenchmarkRedisLookup, which runs both).
//
//	e := enrich.Lookup(plays, tbl, Play.TrackID, joinTrack,
//		enrich.Async(stream.MaxInFlight(100), stream.RequestTimeout(time.Second)))
//
// # Failures
//
// The table does not retry on its own: go-redis retries a failed round trip
// as its Options say (MaxRetries, default 3, with backoff), and when that
// fails too, Get and GetMany return the error. A lookup then fails the run
// with it, named after the operator: no record is passed on unjoined, and
// none is dropped. A row that does not decode is a [*DecodeError], which
// also fails the run. Calls are bounded by the client's read and write
// timeouts, or by [enrich.Timeout].
package redis
