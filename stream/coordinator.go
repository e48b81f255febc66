package stream

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// finalID marks a stateMsg that carries an instance's state at its end of
// input: the parts of the final checkpoint (see [WithCheckpoints]).
const finalID = -1

// stateMsg is one instance's part of a checkpoint, or a sink's ack.
type stateMsg struct {
	id     int64
	key    string
	state  []byte
	groups []groupState // the instance's key groups, for a keyed operator
	has    bool         // state is set
	sink   bool         // a sink acknowledges the barrier
}

// groupState is the state of one key group under its checkpoint key.
type groupState struct {
	key   string
	state []byte
}

// coordinator triggers checkpoints, collects their parts and stores them.
type coordinator struct {
	store     CheckpointStore
	interval  time.Duration
	clock     Clock
	parts     chan stateMsg
	sources   []*atomic.Int64 // pending barrier id per source task
	pokes     []chan struct{} // per source task: a barrier is pending, inject it if parked
	nStates   int
	nSinks    int
	listeners []CheckpointListener
	restored  map[string][]byte
	restoreID int64           // the restored checkpoint's id (0: none)
	names     map[string]bool // operators with registered state
	maxPar    int             // the pipeline's, recorded in every checkpoint
	metrics   CheckpointMetrics
	failed    *atomic.Bool // a task failed: store no final checkpoint
	tick      chan struct{}
	stop      func() bool
	log       *slog.Logger // the pipeline's (silent by default)
	finalDone bool         // the final checkpoint is stored and committed

	mu    sync.Mutex
	next  int64 // id of the last checkpoint started
	ended bool  // a source ended: start no more checkpoints
}

func (c *coordinator) send(ctx context.Context, m stateMsg) error {
	select {
	case c.parts <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendState snapshots st and sends it as its part of checkpoint id.
func (c *coordinator) sendState(ctx context.Context, name string, st *stateful, id int64, sink bool) error {
	m := stateMsg{id: id}
	if st != nil {
		var err error
		if m, err = st.message(id); err != nil {
			return opErr(name, err)
		}
	}
	m.sink = sink
	return c.send(ctx, m)
}

// endSource records that a source has ended: no checkpoint starts after it,
// and the final checkpoint's id is fixed.
func (c *coordinator) endSource() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
}

// finalCheckpointID returns the id the final checkpoint will have. It is
// fixed once a source has ended.
func (c *coordinator) finalCheckpointID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next + 1
}

// begin starts checkpoint id = next+1 unless a source has ended: every
// source gets the barrier to inject, parked ones through their agent.
func (c *coordinator) begin() int64 {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return 0
	}
	c.next++
	id := c.next
	for _, s := range c.sources {
		s.Store(id)
	}
	c.mu.Unlock()
	for _, p := range c.pokes {
		select {
		case p <- struct{}{}:
		default:
		}
	}
	return id
}

func (c *coordinator) arm() {
	c.stop = c.clock.AfterFunc(c.interval, func() {
		select {
		case c.tick <- struct{}{}:
		default:
		}
	})
}

// pending is the checkpoint being collected.
type pending struct {
	id      int64
	started time.Time
	states  map[string][]byte
	got     int
	acks    int
	final   bool // the final checkpoint (end of input, stop or drain)
}

func (p *pending) add(m stateMsg) {
	if m.has {
		p.states[m.key] = m.state
		for _, g := range m.groups {
			p.states[g.key] = g.state
		}
		p.got++
	}
	if m.sink {
		p.acks++
	}
}

// run is the coordinator goroutine. It returns when done closes (every task
// has finished: it then stores the final checkpoint) or ctx is cancelled.
func (c *coordinator) run(ctx context.Context, done <-chan struct{}) error {
	c.arm()
	defer func() { c.stop() }()
	var cur *pending
	final := &pending{id: finalID, states: map[string][]byte{}, final: true}
	handle := func(m stateMsg) error {
		switch {
		case m.id == finalID:
			final.add(m)
			return nil
		case cur == nil || m.id != cur.id:
			return nil
		}
		cur.add(m)
		if cur.got < c.nStates || cur.acks < c.nSinks {
			return nil
		}
		err := c.complete(ctx, cur)
		cur = nil
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
		drain: // every sender has finished: what they sent is buffered
			for {
				select {
				case m := <-c.parts:
					if err := handle(m); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			if ctx.Err() != nil || c.failed.Load() || final.got < c.nStates || final.acks < c.nSinks {
				return nil
			}
			final.id = c.finalCheckpointID()
			final.started = c.clock.Now()
			if err := c.complete(ctx, final); err != nil {
				return err
			}
			c.finalDone = true
			return nil
		case <-c.tick:
			if cur == nil {
				if id := c.begin(); id != 0 {
					cur = &pending{id: id, started: c.clock.Now(), states: map[string][]byte{}}
				}
			}
			c.arm()
		case m := <-c.parts:
			if err := handle(m); err != nil {
				return err
			}
		}
	}
}

// complete stores a checkpoint whose parts are all in, then tells the
// listeners (sources commit offsets, sinks commit their transactions).
func (c *coordinator) complete(ctx context.Context, p *pending) error {
	p.states[maxParallelismKey] = binary.AppendUvarint(nil, uint64(c.maxPar))
	cp := &Checkpoint{ID: p.id, States: p.states}
	if err := c.store.Save(ctx, cp); err != nil {
		return c.failCheckpoint(ctx, p, "store", err)
	}
	for _, l := range c.listeners {
		if err := l.CheckpointComplete(ctx, p.id); err != nil {
			return c.failCheckpoint(ctx, p, "commit", err)
		}
	}
	size := 0
	for k, v := range p.states {
		size += len(k) + len(v)
	}
	took := c.clock.Now().Sub(p.started)
	if c.metrics != nil {
		c.metrics.CheckpointCompleted(p.id, took, size)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "stream: checkpoint completed", slog.Int64("checkpoint", p.id),
		slog.Duration("duration", took), slog.Int("bytes", size), slog.Bool("final", p.final))
	return nil
}

// failCheckpoint reports a checkpoint that could not be stored or committed; the
// run then fails with the returned error.
func (c *coordinator) failCheckpoint(ctx context.Context, p *pending, step string, err error) error {
	if c.metrics != nil {
		c.metrics.CheckpointFailed(p.id)
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "stream: checkpoint failed", slog.Int64("checkpoint", p.id),
		slog.String("step", step), slog.Any("error", err))
	return &OperatorError{Op: "checkpoint", Err: err}
}
