package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/stream"
)

// Tasks keeps the checkpoints of many tasks (a Kafka consumer group's
// partitions, see kafka.Group) in Redis, each fenced by an epoch: Claim
// increments the task's epoch, and a Save checks, in the same Lua script
// that writes the checkpoint, that the epoch is still the one its Claim
// got. An owner that lost the task can therefore never overwrite the
// state its successor restored. It implements kafka.TaskStore (without
// importing it) and is safe for concurrent use.
//
// With prefix P, task X keeps its keys under the hash tag {P:X}, so they
// live in one slot of a Redis Cluster:
//
//	{P:X}:epoch  the fencing token
//	{P:X}:ids    sorted set of the kept checkpoint ids
//	{P:X}:<id>   one checkpoint (stream.EncodeCheckpoint's bytes)
//
// and the set P:tasks names every task ever claimed ([Tasks.List]).
type Tasks struct {
	client goredis.UniversalClient
	prefix string
	keep   int
}

// NewTasks returns a Tasks keeping its keys under prefix, each task its
// newest checkpoints (Keep, default 3). The caller owns client.
func NewTasks(client goredis.UniversalClient, prefix string, opts ...Option) *Tasks {
	s := New(client, prefix, opts...)
	return &Tasks{client: client, prefix: prefix, keep: s.keep}
}

// Claim makes the caller the owner of task's checkpoints: every Save
// through a store an earlier Claim returned fails with an error wrapping
// [stream.ErrFenced] from now on.
func (t *Tasks) Claim(ctx context.Context, task string) (stream.CheckpointStore, error) {
	if task == "" || strings.ContainsAny(task, "{}") {
		return nil, fmt.Errorf("%w: task name %q", stream.ErrInvalid, task)
	}
	base := t.base(task)
	if err := t.client.SAdd(ctx, t.prefix+":tasks", task).Err(); err != nil {
		return nil, fmt.Errorf("redisstore: claim task %s: %w", task, err)
	}
	epoch, err := t.client.Incr(ctx, base+":epoch").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: claim task %s: %w", task, err)
	}
	return &taskStore{Store: Store{client: t.client, prefix: base, keep: t.keep}, task: task, epoch: epoch}, nil
}

func (t *Tasks) base(task string) string { return "{" + t.prefix + ":" + task + "}" }

// List returns the names of the tasks claimed so far, sorted.
func (t *Tasks) List(ctx context.Context) ([]string, error) {
	names, err := t.client.SMembers(ctx, t.prefix+":tasks").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list tasks: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// Latest returns task's newest intact checkpoint (nil if it has none)
// without claiming the task: its owner goes on undisturbed. It is for
// readers of the state (reports, monitoring), not for running the task.
func (t *Tasks) Latest(ctx context.Context, task string) (*stream.Checkpoint, error) {
	if task == "" || strings.ContainsAny(task, "{}") {
		return nil, fmt.Errorf("%w: task name %q", stream.ErrInvalid, task)
	}
	s := Store{client: t.client, prefix: t.base(task), keep: t.keep}
	return s.Latest(ctx)
}

// taskStore is one claim of a task's checkpoints.
type taskStore struct {
	Store
	task  string
	epoch int64
}

// saveScript writes a checkpoint and prunes old ones if the epoch is the
// caller's. KEYS: epoch, ids, the checkpoint's key. ARGV: epoch, data, id,
// keep, the key prefix of checkpoints.
var saveScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  return redis.error_reply('FENCED ' .. tostring(cur))
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  for _, id in ipairs(old) do
    redis.call('DEL', ARGV[5] .. ':' .. id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return 1
`)

// Save stores cp if no later Claim of the task has happened.
func (s *taskStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	id := strconv.FormatInt(cp.ID, 10)
	err := saveScript.Run(ctx, s.client,
		[]string{s.prefix + ":epoch", s.index(), s.key(cp.ID)},
		strconv.FormatInt(s.epoch, 10), stream.EncodeCheckpoint(cp), id, s.keep, s.prefix).Err()
	if err != nil {
		if strings.HasPrefix(err.Error(), "FENCED") {
			return fmt.Errorf("%w: task %s claimed again (epoch %s), this owner has %d", stream.ErrFenced, s.task, strings.TrimPrefix(err.Error(), "FENCED "), s.epoch)
		}
		return fmt.Errorf("redisstore: save checkpoint %d of task %s: %w", cp.ID, s.task, err)
	}
	return nil
}
