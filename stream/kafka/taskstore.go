package kafka

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/brook-streams/brook/internal/atomicfile"
	"github.com/brook-streams/brook/stream"
)

// TaskStore gives each task of a [Group] (one input partition's pipeline)
// checkpoints of its own, in a store every process of the group shares, and
// fences them: the store a Claim returns refuses, with an error wrapping
// [stream.ErrFenced], every Save once a later Claim of the same task has
// happened anywhere. A process that lost a partition without knowing it (a
// paused or partitioned worker whose session expired) can then never
// overwrite the state its successor restored and moved on from.
//
// Implementations: [DirTaskStore] (a local directory, for one machine) and
// redisstore.Tasks (Redis, for several). They must be safe for concurrent use.
type TaskStore interface {
	// Claim makes the caller the owner of task's checkpoints and returns
	// a store for them: its Latest returns the newest checkpoint saved by
	// any owner, and its Save succeeds only while no later Claim of task
	// has happened. task is a name without '/'.
	Claim(ctx context.Context, task string) (stream.CheckpointStore, error)
}

// DirTaskStore is a [TaskStore] in a local directory, for a group whose
// processes run on one machine (tests, a single host): each task has a
// sub-directory holding a [stream.DirStore] and an epoch file. Claim
// increments the epoch; Save writes only if the epoch is still the one its
// Claim set. Both hold an exclusive lock on the task's lock file (flock:
// released by the kernel when a process dies), so the check and the write
// are atomic with respect to other processes.
type DirTaskStore struct {
	dir  string
	keep int
}

var _ TaskStore = (*DirTaskStore)(nil)

// NewDirTaskStore returns a DirTaskStore in dir, creating it if needed. Each
// task keeps its newest keep checkpoints (at least 1; 0 means 3).
func NewDirTaskStore(dir string, keep int) (*DirTaskStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafka: task store: %w", err)
	}
	if keep <= 0 {
		keep = 3
	}
	return &DirTaskStore{dir: dir, keep: keep}, nil
}

// Claim implements [TaskStore].
func (d *DirTaskStore) Claim(_ context.Context, task string) (stream.CheckpointStore, error) {
	if task == "" || strings.ContainsAny(task, `/\`) || task == "." || task == ".." {
		return nil, fmt.Errorf("%w: task name %q", stream.ErrInvalid, task)
	}
	dir := filepath.Join(d.dir, task)
	ds, err := stream.NewDirStore(dir)
	if err != nil {
		return nil, fmt.Errorf("kafka: task store %s: %w", task, err)
	}
	ds.Keep = d.keep
	s := &dirTask{task: task, dir: dir, ds: ds}
	err = s.locked(func() error {
		e, err := s.readEpoch()
		if err != nil {
			return err
		}
		s.epoch = e + 1
		return atomicfile.WriteFile(filepath.Join(dir, "epoch"), []byte(strconv.FormatInt(s.epoch, 10)), 0o600)
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: claim task %s: %w", task, err)
	}
	return s, nil
}

// dirTask is one claim of a task's checkpoints in a DirTaskStore.
type dirTask struct {
	task  string
	dir   string
	ds    *stream.DirStore
	epoch int64
	mu    sync.Mutex // one Save at a time from this process
}

func (s *dirTask) readEpoch() (int64, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "epoch"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	e, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: epoch file of task %s: %q", stream.ErrCorruptCheckpoint, s.task, b)
	}
	return e, nil
}

func (s *dirTask) locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // the lock file holds no data
	if err := lockFile(f); err != nil {
		return err
	}
	defer unlockFile(f)
	return fn()
}

// Save stores cp if no later claim of the task has happened.
func (s *dirTask) Save(ctx context.Context, cp *stream.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locked(func() error {
		e, err := s.readEpoch()
		if err != nil {
			return err
		}
		if e != s.epoch {
			return fmt.Errorf("%w: task %s claimed by epoch %d, this owner has %d", stream.ErrFenced, s.task, e, s.epoch)
		}
		return s.ds.Save(ctx, cp)
	})
}

// Latest returns the task's newest intact checkpoint.
func (s *dirTask) Latest(ctx context.Context) (*stream.Checkpoint, error) {
	return s.ds.Latest(ctx)
}
