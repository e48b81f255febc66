package kafka

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
)

// This file makes the Source checkpointable: its state in a checkpoint is
// the position of every partition whose records it handed downstream, and
// the offsets a completed checkpoint recorded are what it commits.

var (
	_ stream.Snapshotter        = (*Source[int])(nil)
	_ stream.CheckpointListener = (*Source[int])(nil)
)

// CommitOnCheckpoint is the commit policy of a source in a pipeline with
// checkpoints ([stream.WithCheckpoints]): the source commits the positions a
// checkpoint recorded once that checkpoint is complete (stored), and at no
// other time — not after polls, not when partitions are revoked, not when it
// stops. The group's committed offsets then always describe a stored state,
// and a group member without that state (another process, or a run whose
// checkpoint store was cleared) resumes from them.
func CommitOnCheckpoint() CommitPolicy { return checkpointPolicy{} }

type checkpointPolicy struct{}

func (checkpointPolicy) Commit(time.Time, CommitReason, Offsets) Offsets { return nil }

func isCheckpointPolicy(p CommitPolicy) bool {
	_, ok := p.(checkpointPolicy)
	return ok
}

const snapshotVersion = 1

// Snapshot implements [stream.Snapshotter]: the position (next offset and
// leader epoch) of every partition the source has handed records of in this
// run, or restored from a checkpoint, whether it still owns it or not: the
// records before those positions are in the pipeline's state. The runtime
// calls it inside out.Emit and out.Flush, after the record being emitted,
// which the source counts as consumed before handing it; while the source
// waits in a poll (so checkpoints go on while the topic is quiet); and once
// more after Run has returned, for the final checkpoint.
func (s *Source[T]) Snapshot() ([]byte, error) {
	s.checkpointed.Store(true)
	pos := Offsets{}
	if c := s.cur; c != nil {
		// Inside emitAll (on the source's goroutine) c.mu is held already;
		// otherwise the source is parked in a poll, or its Run has ended,
		// and rebalance callbacks may run: take it.
		if !s.emitting {
			c.mu.Lock()
			defer c.mu.Unlock()
		}
		for tp, eo := range c.pos {
			pos.set(tp.topic, tp.partition, eo)
		}
		for tp, st := range c.parts {
			if st.handed.Offset >= 0 {
				pos.set(tp.topic, tp.partition, st.handed)
			}
		}
	} else {
		for tp, eo := range s.restored {
			pos.set(tp.topic, tp.partition, eo)
		}
	}
	s.ckMu.Lock()
	s.pending = append(s.pending, pos)
	s.ckMu.Unlock()
	return encodeOffsets(pos), nil
}

// Restore implements [stream.Snapshotter]: the source will start every
// partition recorded in state at its recorded position, instead of the
// group's committed offset or the configured start offset, when it is
// assigned (also when it comes back after a rebalance in this run).
func (s *Source[T]) Restore(state []byte) error {
	pos, err := decodeOffsets(state)
	if err != nil {
		return err
	}
	s.restored = make(map[topicPartition]kgo.EpochOffset)
	for topic, ps := range pos {
		for p, eo := range ps {
			s.restored[topicPartition{topic, p}] = eo
		}
	}
	s.checkpointed.Store(true)
	return nil
}

// CheckpointComplete implements [stream.CheckpointListener]: with
// [CommitOnCheckpoint], a consumer-group source commits the positions its
// Snapshot recorded for that checkpoint, for the partitions it owns now. A
// commit refused because the group is rebalancing is skipped (the next
// checkpoint commits again); any other failure fails the run. After a clean
// end (the input ended, or a stop) the source keeps its client until Close,
// so the pipeline's final checkpoint commits too; after a failure it commits
// nothing: the next run restores the checkpoint and seeks to its positions
// anyway.
//
// The runtime completes checkpoints one at a time and in order, so the
// oldest snapshot not yet completed is the one of checkpoint id.
func (s *Source[T]) CheckpointComplete(ctx context.Context, id int64) error {
	s.ckMu.Lock()
	if len(s.pending) == 0 {
		s.ckMu.Unlock()
		return nil
	}
	pos := s.pending[0]
	s.pending = s.pending[1:]
	s.ckMu.Unlock()
	if s.cfg.group == "" || !isCheckpointPolicy(s.cfg.policy) {
		return nil
	}
	owned := s.Assigned()
	commit := Offsets{}
	for topic, ps := range owned {
		for _, p := range ps {
			if eo, ok := pos[topic][p]; ok {
				commit.set(topic, p, eo)
			}
		}
	}
	if len(commit) == 0 {
		return nil
	}
	s.clMu.Lock()
	defer s.clMu.Unlock()
	if s.cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cerr error
	s.cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = err
				}
			}
		}
	})
	if cerr == nil || rebalancing(cerr) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%w (checkpoint %d): %w", ErrCommit, id, cerr)
}

// encodeOffsets writes positions sorted by topic and partition: a version
// byte, then per partition the topic, partition, offset and epoch.
func encodeOffsets(pos Offsets) []byte {
	type entry struct {
		topic string
		p     int32
		eo    kgo.EpochOffset
	}
	var all []entry
	for topic, ps := range pos {
		for p, eo := range ps {
			all = append(all, entry{topic, p, eo})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.p, b.p)) })
	b := []byte{snapshotVersion}
	b = binary.AppendUvarint(b, uint64(len(all)))
	for _, e := range all {
		b = binary.AppendUvarint(b, uint64(len(e.topic)))
		b = append(b, e.topic...)
		b = binary.AppendVarint(b, int64(e.p))
		b = binary.AppendVarint(b, e.eo.Offset)
		b = binary.AppendVarint(b, int64(e.eo.Epoch))
	}
	return b
}

func decodeOffsets(b []byte) (Offsets, error) {
	bad := func(what string) error { return fmt.Errorf("%w: kafka source: %s", stream.ErrCorruptCheckpoint, what) }
	if len(b) == 0 || b[0] != snapshotVersion {
		return nil, bad("unknown version")
	}
	b = b[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	n, ok := uv()
	if !ok || n > uint64(len(b)) {
		return nil, bad("bad partition count")
	}
	pos := Offsets{}
	for range n {
		l, ok := uv()
		if !ok || l > uint64(len(b)) {
			return nil, bad("truncated topic")
		}
		topic := string(b[:l])
		b = b[l:]
		p, ok1 := sv()
		off, ok2 := sv()
		epoch, ok3 := sv()
		switch {
		case !ok1 || !ok2 || !ok3:
			return nil, bad("truncated position")
		case p < 0 || p > 1<<31-1 || off < 0 || epoch < -1 || epoch > 1<<31-1:
			return nil, bad(fmt.Sprintf("position %s/%d@%d (epoch %d) out of range", topic, p, off, epoch))
		}
		if _, dup := pos[topic][int32(p)]; dup {
			return nil, bad(fmt.Sprintf("partition %s/%d twice", topic, p))
		}
		pos.set(topic, int32(p), kgo.EpochOffset{Epoch: int32(epoch), Offset: off})
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return pos, nil
}
