// Package redisstore keeps brook checkpoints in Redis, so a pipeline that
// moves between machines (or runs as several processes) finds its latest
// checkpoint where it left it. It implements stream.CheckpointStore on
// github.com/redis/go-redis/v9.
//
// Each checkpoint is one string key holding stream.EncodeCheckpoint's bytes
// (with their CRC), and a sorted set indexes the ids. Save writes both in
// one MULTI/EXEC transaction, so a crash leaves either the new checkpoint or
// none of it; old checkpoints beyond Keep are deleted in the same
// transaction. Latest skips entries that are missing or do not decode and
// returns the newest intact one.
//
//	store := redisstore.New(client, "jw:ckpt")
//	p := stream.New(stream.WithCheckpoints(store, time.Second))
package redisstore
