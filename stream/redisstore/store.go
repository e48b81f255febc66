package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/stream"
)

// Store is a stream.CheckpointStore in Redis. It is safe for concurrent use.
type Store struct {
	client goredis.UniversalClient
	prefix string
	keep   int
}

var _ stream.CheckpointStore = (*Store)(nil)

// Option configures a Store.
type Option interface{ apply(*Store) }

type keepOpt int

func (k keepOpt) apply(s *Store) { s.keep = int(k) }

// Keep sets how many checkpoints are kept (default 3, at least 1).
func Keep(n int) Option { return keepOpt(max(n, 1)) }

// New returns a Store keeping its keys under prefix (e.g. "myjob:ckpt").
// The caller owns client.
func New(client goredis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{client: client, prefix: prefix, keep: 3}
	for _, o := range opts {
		o.apply(s)
	}
	return s
}

func (s *Store) index() string       { return s.prefix + ":ids" }
func (s *Store) key(id int64) string { return s.prefix + ":" + strconv.FormatInt(id, 10) }
func member(id int64) goredis.Z {
	return goredis.Z{Score: float64(id), Member: strconv.FormatInt(id, 10)}
}
func parseID(m string) (int64, error) { return strconv.ParseInt(m, 10, 64) }

// Save stores cp and prunes the oldest checkpoints, atomically.
func (s *Store) Save(ctx context.Context, cp *stream.Checkpoint) error {
	ids, err := s.client.ZRange(ctx, s.index(), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redisstore: list checkpoints: %w", err)
	}
	var drop []int64
	if extra := len(ids) + 1 - s.keep; extra > 0 {
		for _, m := range ids[:min(extra, len(ids))] {
			if id, err := parseID(m); err == nil && id != cp.ID {
				drop = append(drop, id)
			}
		}
	}
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, s.key(cp.ID), stream.EncodeCheckpoint(cp), 0)
		p.ZAdd(ctx, s.index(), member(cp.ID))
		for _, id := range drop {
			p.Del(ctx, s.key(id))
			p.ZRem(ctx, s.index(), strconv.FormatInt(id, 10))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: save checkpoint %d: %w", cp.ID, err)
	}
	return nil
}

// Latest returns the newest intact checkpoint, or nil if there is none.
func (s *Store) Latest(ctx context.Context) (*stream.Checkpoint, error) {
	ids, err := s.client.ZRevRange(ctx, s.index(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list checkpoints: %w", err)
	}
	for _, m := range ids {
		id, err := parseID(m)
		if err != nil {
			continue
		}
		data, err := s.client.Get(ctx, s.key(id)).Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: read checkpoint %d: %w", id, err)
		}
		cp, err := stream.DecodeCheckpoint(data)
		if err != nil || cp.ID != id {
			continue // damaged: fall back to the previous one
		}
		return cp, nil
	}
	return nil, nil
}
