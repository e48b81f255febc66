// Package redis shares HyperLogLog cardinality between processes through
// Redis (github.com/redis/go-redis/v9): each process adds its keys to a Redis
// HyperLogLog with PFADD, and any process reads the count of one key or of
// the union of several with PFCOUNT, or folds keys together with PFMERGE.
//
// It complements sketch.HLL rather than storing it: Redis hashes members with
// its own function and register layout, so the two kinds of sketch do not
// merge with each other. Use sketch.HLL with MarshalBinary when the sketches
// travel through another channel (Kafka, a checkpoint), and this package when
// Redis is the meeting point.
//
//	h, err := redis.NewHLL(client, "listeners:2026-11-29T20:00")
//	if err != nil { ... }
//	if err := h.Add(ctx, userIDs...); err != nil { ... } // PFADD, pipelined in batches
//	n, err := h.Count(ctx)                              // PFCOUNT
//
// Every call takes ctx first, returns an error instead of logging it, and is
// safe for concurrent use (go-redis clients are). The caller owns the client:
// this package never creates or closes one. Add pipelines its PFADD
// commands without MULTI: on an error some batches may have been applied,
// which is harmless because adding a member twice does not change a
// HyperLogLog, so the call can simply be retried. With Redis Cluster, the
// keys given to Count, MergeFrom and Merge must hash to one slot (use a hash
// tag such as "{listeners}:…").
//
// Redis HyperLogLogs use 2^14 registers: a standard error of 0.81 % and at
// most 12 KiB per key.
package redis
