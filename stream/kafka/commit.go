package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Offsets are positions in partitions: topic -> partition -> the offset of
// the next record to read (one past the last record handed downstream),
// with the leader epoch of that last record.
type Offsets map[string]map[int32]kgo.EpochOffset

func (o Offsets) set(topic string, p int32, eo kgo.EpochOffset) {
	m := o[topic]
	if m == nil {
		m = map[int32]kgo.EpochOffset{}
		o[topic] = m
	}
	m[p] = eo
}

// CommitReason says why a source asks its [CommitPolicy].
type CommitReason uint8

const (
	// Flushed: the source has handed a poll's records downstream and
	// out.Flush has returned.
	Flushed CommitReason = iota
	// Tick: the source woke up without new records (about once a second
	// while it holds uncommitted positions).
	Tick
	// Revoked: the partitions are leaving this process in a rebalance; it
	// is the last chance to commit them before another member resumes them
	// from the group's committed offsets.
	Revoked
	// Stopped: the source ends normally ([ExitWhenIdle], [Source.Stop]).
	Stopped
)

// String returns the reason in words.
func (r CommitReason) String() string {
	switch r {
	case Flushed:
		return "flushed"
	case Tick:
		return "tick"
	case Revoked:
		return "revoked"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// CommitPolicy decides which positions a consumer-group [Source] commits, and
// when. The source asks it with the positions up to which every record has
// been handed to out.Emit and out.Flush has returned ("handed"), for the
// partitions concerned (for Revoked, only the revoked ones), and commits what
// Commit returns: usually handed itself or nothing, but a policy may return
// older positions it kept (a checkpoint-driven policy returns the positions
// of the last completed checkpoint). It must not return positions of
// partitions that are not in handed, nor positions past them.
//
// Calls are serialized (they come from the source's goroutine and from the
// client's rebalance callbacks, never at once). The source never asks after
// a failure or a cancellation: it then commits nothing more.
type CommitPolicy interface {
	Commit(now time.Time, reason CommitReason, handed Offsets) Offsets
}

// CommitPolicyFunc adapts a function to a CommitPolicy.
type CommitPolicyFunc func(now time.Time, reason CommitReason, handed Offsets) Offsets

// Commit calls f.
func (f CommitPolicyFunc) Commit(now time.Time, reason CommitReason, handed Offsets) Offsets {
	return f(now, reason, handed)
}

// CommitInterval commits the handed positions at most every d (d <= 0: after
// every poll), and always when partitions are revoked or the source stops.
func CommitInterval(d time.Duration) CommitPolicy {
	return &intervalPolicy{d: d}
}

type intervalPolicy struct {
	d    time.Duration
	last time.Time
}

func (p *intervalPolicy) Commit(now time.Time, reason CommitReason, handed Offsets) Offsets {
	if len(handed) == 0 {
		return nil
	}
	switch reason {
	case Flushed, Tick:
		if p.d > 0 && !p.last.IsZero() && now.Sub(p.last) < p.d {
			return nil
		}
		p.last = now
	}
	return handed
}

// CommitNever commits nothing: positions are left to the caller (or to
// checkpoints, once they exist). A restarted consumer group then resumes
// from whatever was committed before.
func CommitNever() CommitPolicy {
	return CommitPolicyFunc(func(time.Time, CommitReason, Offsets) Offsets { return nil })
}
