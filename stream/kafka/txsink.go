package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// txSlots is how many transactional producers a TransactionalSink rotates
// through: the records after checkpoint N's barrier go to producer
// (N+1) mod 3, so a producer holding a transaction that a stored checkpoint
// names gets a new one only after a later checkpoint, which no longer names
// it, is stored. Recovery can then commit the named transaction by its
// producer id and epoch without ever committing a later one by mistake.
const txSlots = 3

// TransactionalSink is a [stream.Sink] that produces each record's value to
// a Kafka topic in transactions, two-phase committed with the pipeline's
// checkpoints ([stream.Committer]): a consumer reading with read_committed
// isolation (kgo.FetchIsolationLevel(kgo.ReadCommitted()), or
// isolation.level=read_committed) sees every result exactly once, across
// crashes and restarts.
//
// The records written between two checkpoint barriers form one transaction.
// At a barrier the sink flushes it and waits for its acks (pre-commit); its
// checkpointed state names it (transactional id, producer id and epoch); it
// is committed once the checkpoint is stored. A restored run first commits
// the transaction the restored checkpoint names (the crashed run may have
// died before it could), then initializes its producers, which fences a
// zombie still running with the same ids and aborts what any earlier run
// left open. Output is therefore visible one checkpoint interval late, and a
// transaction must not outlive the [TransactionTimeout].
//
// The sink uses the transactional ids id-0, id-1 and id-2 (see
// [NewTransactionalSink]): they must stay the same across restarts of the
// same pipeline, and no other sink may use them. Without checkpoints the
// whole run is one transaction, committed at the end of the input.
//
// A record that fails to produce fails the run (at the next Write or at the
// barrier); the transaction is then aborted and the restored run writes it
// again.
type TransactionalSink[T any] struct {
	topic  string
	id     string
	encode func(T) ([]byte, error)
	key    func(T) []byte
	hdrs   func(T) []kgo.RecordHeader
	cfg    sinkConfig
	err    error
	carry  *carrier

	prods [txSlots]*kgo.Client
	cur   int  // slot of the transaction being written
	open  bool // a transaction is begun on prods[cur]

	mu       sync.Mutex
	pending  []preCommit // pre-committed, oldest first, not yet committed
	firstErr error       // a failed produce
	promise  func(*kgo.Record, error)
}

// preCommit is a flushed transaction waiting for its checkpoint.
type preCommit struct {
	ckpt  int64
	slot  int
	pid   int64
	epoch int16
	live  bool // written by this run's producer (not restored)
}

var (
	_ stream.Sink[int]   = (*TransactionalSink[int])(nil)
	_ stream.Committer   = (*TransactionalSink[int])(nil)
	_ stream.Snapshotter = (*TransactionalSink[int])(nil)
	_ stream.Opener      = (*TransactionalSink[int])(nil)
	_ stream.Closer      = (*TransactionalSink[int])(nil)

	_ stream.WatermarkSink = (*TransactionalSink[int])(nil)
)

// NewTransactionalSink returns a TransactionalSink producing to topic, the
// record values encoded with encode, with the transactional ids id-0, id-1
// and id-2. id names this sink instance: stable across restarts, unique
// among the sinks of every pipeline on the cluster. It needs [Brokers]; the
// [Client] option does not apply (the sink needs its own transactional
// clients).
func NewTransactionalSink[T any](topic string, encode func(T) ([]byte, error), id string, opts ...SinkOption) *TransactionalSink[T] {
	s := &TransactionalSink[T]{topic: topic, id: id, encode: encode,
		cfg: sinkConfig{closeTimeout: 30 * time.Second, txnTimeout: time.Minute}}
	for _, o := range opts {
		if o != nil {
			o.applySink(&s.cfg)
		}
	}
	s.promise = s.onAck
	return s
}

func (s *TransactionalSink[T]) onAck(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	if s.firstErr == nil {
		s.firstErr = fmt.Errorf("%w: %s/%d: %w", ErrProduce, r.Topic, r.Partition, err)
	}
	s.mu.Unlock()
}

func (s *TransactionalSink[T]) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}

// Open checks the configuration, commits what a restored checkpoint names,
// and initializes the producers (fencing zombies, aborting leftovers).
func (s *TransactionalSink[T]) Open(c *stream.Context) error {
	switch {
	case s.topic == "":
		s.err = fmt.Errorf("%w: kafka: sink without topic", stream.ErrInvalid)
	case s.encode == nil:
		s.err = fmt.Errorf("%w: kafka: nil encoder", stream.ErrInvalid)
	case s.id == "":
		s.err = fmt.Errorf("%w: kafka: transactional sink without an id", stream.ErrInvalid)
	case s.cfg.client != nil:
		s.err = fmt.Errorf("%w: kafka: a transactional sink makes its own clients (Client does not apply)", stream.ErrInvalid)
	case len(s.cfg.brokers) == 0:
		s.err = fmt.Errorf("%w: kafka: no brokers", stream.ErrInvalid)
	}
	if s.err == nil && s.cfg.key != nil {
		fn, ok := s.cfg.key.(func(T) []byte)
		if !ok {
			s.err = fmt.Errorf("%w: kafka: Key takes a %T, want a func(%T) []byte", stream.ErrInvalid, s.cfg.key, *new(T))
		}
		s.key = fn
	}
	if s.err == nil && s.cfg.headers != nil {
		fn, ok := s.cfg.headers.(func(T) []kgo.RecordHeader)
		if !ok {
			s.err = fmt.Errorf("%w: kafka: Headers takes a %T, want a func(%T) []kgo.RecordHeader", stream.ErrInvalid, s.cfg.headers, *new(T))
		}
		s.hdrs = fn
	}
	if s.err != nil {
		return s.err
	}
	if s.cfg.carry {
		s.carry = &carrier{wm: stream.MinTime}
	}
	for i := range s.prods {
		opts := append([]kgo.Opt{kgo.SeedBrokers(s.cfg.brokers...)}, s.cfg.clientOpts...)
		if s.carry != nil {
			opts = append(opts, carryClientOpts()...)
		}
		opts = append(opts, kgo.TransactionalID(s.txnID(i)), kgo.TransactionTimeout(s.cfg.txnTimeout))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			s.err = fmt.Errorf("kafka: client: %w", err)
			return s.err
		}
		s.prods[i] = cl
	}
	ctx := context.Background()
	if c != nil {
		ctx = c.RunContext()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.closeTimeout)
	defer cancel()
	// Recover first: initializing a producer aborts its open transaction.
	if err := s.commitPending(ctx, 1<<62); err != nil {
		s.err = err
		return err
	}
	for i, cl := range s.prods {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			s.err = fmt.Errorf("kafka: init transactional producer %s: %w", s.txnID(i), err)
			return s.err
		}
	}
	return nil
}

func (s *TransactionalSink[T]) txnID(slot int) string { return fmt.Sprintf("%s-%d", s.id, slot) }

// Write encodes r and produces it in the open transaction, beginning one if
// needed.
func (s *TransactionalSink[T]) Write(ctx context.Context, r stream.Record[T]) error {
	if s.err != nil {
		return s.err
	}
	if s.prods[0] == nil {
		return fmt.Errorf("%w: kafka: transactional sink not opened", stream.ErrInvalid)
	}
	if err := s.failure(); err != nil {
		return err
	}
	v, err := s.encode(r.Value)
	if err != nil {
		return fmt.Errorf("kafka: encode: %w", err)
	}
	cl, err := s.begin()
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: s.topic, Value: v}
	if s.key != nil {
		rec.Key = s.key(r.Value)
	}
	if s.hdrs != nil {
		rec.Headers = s.hdrs(r.Value)
	}
	if s.carry != nil {
		s.carry.stamp(rec)
	}
	if !s.cfg.produceTime {
		rec.Timestamp = r.Time.Std()
	}
	cl.Produce(ctx, rec, s.promise)
	return nil
}

// begin returns the producer of the open transaction, beginning one if
// needed.
func (s *TransactionalSink[T]) begin() (*kgo.Client, error) {
	cl := s.prods[s.cur]
	if !s.open {
		if err := cl.BeginTransaction(); err != nil {
			return nil, fmt.Errorf("kafka: begin transaction: %w", err)
		}
		s.open = true
	}
	return cl, nil
}

// WriteWatermark implements [stream.WatermarkSink]: with [CarryWatermarks]
// it keeps w for the records that follow, and on the final watermark
// (stream.MaxTime) produces a watermark-only record to every partition of
// the topic, in the open transaction. Without it, it does nothing.
func (s *TransactionalSink[T]) WriteWatermark(ctx context.Context, w stream.Time) error {
	if s.carry == nil || w <= s.carry.wm || s.err != nil {
		return nil
	}
	s.carry.wm = w
	if w != stream.MaxTime {
		return nil
	}
	cl, err := s.begin()
	if err != nil {
		return err
	}
	recs, err := s.carry.final(ctx, cl, s.topic)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		cl.Produce(ctx, rec, s.promise)
	}
	return nil
}

// PreCommit implements [stream.Committer]: it flushes the open transaction,
// waits for its acks and keeps it for Commit; the next records go to the
// next producer.
func (s *TransactionalSink[T]) PreCommit(ctx context.Context, id int64) error {
	if s.err != nil {
		return s.err
	}
	slot := s.cur
	s.cur = (s.cur + 1) % txSlots // also without records: see txSlots
	if !s.open {
		return nil
	}
	s.open = false
	cl := s.prods[slot]
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flush: %w", err)
	}
	if err := s.failure(); err != nil {
		return err
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("kafka: producer id: %w", err)
	}
	s.mu.Lock()
	s.pending = append(s.pending, preCommit{ckpt: id, slot: slot, pid: pid, epoch: epoch, live: true})
	s.mu.Unlock()
	return nil
}

// Commit implements [stream.Committer]: it commits every pre-committed
// transaction of checkpoint id or before. It is idempotent.
func (s *TransactionalSink[T]) Commit(ctx context.Context, id int64) error {
	return s.commitPending(ctx, id)
}

func (s *TransactionalSink[T]) commitPending(ctx context.Context, upTo int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) > 0 && s.pending[0].ckpt <= upTo {
		pc := s.pending[0]
		if pc.live {
			if err := s.prods[pc.slot].EndTransaction(ctx, kgo.TryCommit); err != nil {
				return fmt.Errorf("kafka: commit transaction %s of checkpoint %d: %w", s.txnID(pc.slot), pc.ckpt, err)
			}
		} else if err := s.endTxn(ctx, pc); err != nil {
			return err
		}
		s.pending = s.pending[1:]
	}
	return nil
}

// endTxn commits a restored pre-committed transaction by its producer id
// and epoch: the producer that wrote it belonged to a run that died. A transaction
// already committed, or fenced by a later initialization of its producer
// (which only a run that has committed it first does), needs nothing more.
func (s *TransactionalSink[T]) endTxn(ctx context.Context, pc preCommit) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = s.txnID(pc.slot)
	req.ProducerID = pc.pid
	req.ProducerEpoch = pc.epoch
	req.Commit = true
	for attempt := 0; ; attempt++ {
		resp, err := req.RequestWith(ctx, s.prods[pc.slot])
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
			errors.Is(err, kerr.InvalidProducerIDMapping):
			return nil
		case (errors.Is(err, kerr.ConcurrentTransactions) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
			errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorNotAvailable)) && attempt < 50 && ctx.Err() == nil:
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		return fmt.Errorf("kafka: commit transaction %s of checkpoint %d: %w", req.TransactionalID, pc.ckpt, err)
	}
}

// Abort implements [stream.Committer]: it aborts the open transaction;
// pre-committed ones are left for the next run to commit or abort.
func (s *TransactionalSink[T]) Abort(ctx context.Context) error {
	if !s.open || s.prods[s.cur] == nil {
		return nil
	}
	s.open = false
	cl := s.prods[s.cur]
	ctx, cancel := context.WithTimeout(ctx, s.cfg.closeTimeout)
	defer cancel()
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("kafka: abort: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("kafka: abort: %w", err)
	}
	return nil
}

const txStateVersion = 1

// Snapshot implements [stream.Snapshotter]: the pre-committed transactions
// (the checkpoint's own is the last) and the producer of the next one.
func (s *TransactionalSink[T]) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e codec.Encoder
	e.Byte(txStateVersion)
	e.Uint(uint64(len(s.pending)))
	for _, pc := range s.pending {
		e.Int(pc.ckpt)
		e.Uint(uint64(pc.slot))
		e.Int(pc.pid)
		e.Int(int64(pc.epoch))
	}
	e.Uint(uint64(s.cur))
	return e.Data(), nil
}

// Restore implements [stream.Snapshotter]: Open commits the transactions in
// state before anything else.
func (s *TransactionalSink[T]) Restore(state []byte) error {
	d := codec.NewDecoder(state, "kafka transactional sink state")
	d.Version(txStateVersion)
	n := d.Count()
	var pending []preCommit
	for range n {
		ck, slot, pid, epoch := d.Int(), d.Uint(), d.Int(), d.Int()
		if d.Err() != nil {
			break
		}
		if slot >= txSlots || epoch < -1 || epoch > 1<<15-1 {
			d.Fail("producer slot %d, epoch %d", slot, epoch)
			break
		}
		pending = append(pending, preCommit{ckpt: ck, slot: int(slot), pid: pid, epoch: int16(epoch)})
	}
	cur := d.Uint()
	if d.Err() == nil && cur >= txSlots {
		d.Fail("producer slot %d", cur)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	s.mu.Lock()
	s.pending = pending
	s.mu.Unlock()
	s.cur = int(cur)
	return nil
}

// Close closes the producers. A transaction still open (the run failed
// and Abort could not end it) is aborted by the broker when it times out,
// or by the next run's initialization.
func (s *TransactionalSink[T]) Close() error {
	for i, cl := range s.prods {
		if cl != nil {
			cl.Close()
			s.prods[i] = nil
		}
	}
	if s.err == nil {
		s.err = errSinkClosed
	}
	return nil
}
