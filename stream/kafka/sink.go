package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
)

// ErrProduce wraps the failure of records the broker did not acknowledge.
var ErrProduce = errors.New("kafka: produce failed")

var errSinkClosed = errors.New("kafka: sink closed")

// Sink is a [stream.Sink] that produces each record's value to a Kafka topic.
// Write hands the record to the client's batching producer and returns at
// once (blocking only while the client's buffer is full); the acks are
// awaited by Sync, which the runtime calls at every checkpoint barrier and at
// the end of the input, and by Close. A record that fails to produce is never
// dropped silently: its error is returned by the next Write, by Sync or by
// Close, and fails the run. Its guarantee is at-least-once: after a crash,
// the records produced since the last checkpoint are produced again.
//
// The sink creates its client when the pipeline opens it and closes it in
// Close, unless [Client] gave it one.
type Sink[T any] struct {
	topic  string
	encode func(T) ([]byte, error)
	key    func(T) []byte
	hdrs   func(T) []kgo.RecordHeader
	cfg    sinkConfig
	cl     *kgo.Client
	owned  bool
	err    error // a configuration error, reported by Write
	carry  *carrier

	mu       sync.Mutex
	failed   int64 // records whose promise reported an error
	firstErr error
	reported bool // firstErr has been returned
	promise  func(*kgo.Record, error)
}

var (
	_ stream.Sink[int] = (*Sink[int])(nil)
	_ stream.Syncer    = (*Sink[int])(nil)
	_ stream.Closer    = (*Sink[int])(nil)
	_ stream.Opener    = (*Sink[int])(nil)

	_ stream.WatermarkSink = (*Sink[int])(nil)
)

// NewSink returns a Sink producing to topic, the record values encoded with
// encode. It needs [Brokers] or [Client].
func NewSink[T any](topic string, encode func(T) ([]byte, error), opts ...SinkOption) *Sink[T] {
	s := &Sink[T]{topic: topic, encode: encode, cfg: sinkConfig{closeTimeout: 30 * time.Second}}
	for _, o := range opts {
		if o != nil {
			o.applySink(&s.cfg)
		}
	}
	s.promise = s.onAck
	return s
}

// Open checks the configuration and creates the client.
func (s *Sink[T]) Open(*stream.Context) error { return s.open() }

func (s *Sink[T]) open() error {
	if s.cl != nil || s.err != nil {
		return s.err
	}
	switch {
	case s.topic == "":
		s.err = fmt.Errorf("%w: kafka: sink without topic", stream.ErrInvalid)
	case s.encode == nil:
		s.err = fmt.Errorf("%w: kafka: nil encoder", stream.ErrInvalid)
	case s.cfg.client == nil && len(s.cfg.brokers) == 0:
		s.err = fmt.Errorf("%w: kafka: no brokers", stream.ErrInvalid)
	case s.cfg.client != nil && s.cfg.carry:
		s.err = fmt.Errorf("%w: kafka: CarryWatermarks needs a client the sink creates (Client does not apply)", stream.ErrInvalid)
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
	if s.cfg.client != nil {
		s.cl = s.cfg.client
		return nil
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(s.cfg.brokers...)}, s.cfg.clientOpts...)
	if s.cfg.carry {
		s.carry = &carrier{wm: stream.MinTime}
		opts = append(opts, carryClientOpts()...)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.err = fmt.Errorf("kafka: client: %w", err)
		return s.err
	}
	s.cl, s.owned = cl, true
	return nil
}

func (s *Sink[T]) onAck(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.failed++
	if s.firstErr == nil {
		s.firstErr = fmt.Errorf("%w: %s/%d: %w", ErrProduce, r.Topic, r.Partition, err)
	}
	s.mu.Unlock()
}

// failure returns the produce failure not yet returned to the runtime.
func (s *Sink[T]) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil || s.reported {
		return nil
	}
	s.reported = true
	if s.failed > 1 {
		return fmt.Errorf("%d records not produced, the first: %w", s.failed, s.firstErr)
	}
	return s.firstErr
}

// Write encodes r and hands it to the producer. It returns the error of a
// record produced earlier that failed, if any.
func (s *Sink[T]) Write(ctx context.Context, r stream.Record[T]) error {
	if s.cl == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := s.failure(); err != nil {
		return err
	}
	v, err := s.encode(r.Value)
	if err != nil {
		return fmt.Errorf("kafka: encode: %w", err)
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
	s.cl.Produce(ctx, rec, s.promise)
	return nil
}

// WriteWatermark implements [stream.WatermarkSink]: with [CarryWatermarks]
// it keeps w for the records that follow, and on the final watermark
// (stream.MaxTime) produces a watermark-only record to every partition of
// the topic. Without it, it does nothing.
func (s *Sink[T]) WriteWatermark(ctx context.Context, w stream.Time) error {
	if s.carry == nil || w <= s.carry.wm {
		return nil
	}
	s.carry.wm = w
	if w != stream.MaxTime {
		return nil
	}
	recs, err := s.carry.final(ctx, s.cl, s.topic)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		s.cl.Produce(ctx, rec, s.promise)
	}
	return nil
}

// Sync waits until every record handed to the producer is acknowledged,
// and returns the first failure.
func (s *Sink[T]) Sync(ctx context.Context) error {
	if s.cl == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := s.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flush: %w", err)
	}
	return s.failure()
}

// Close waits (up to the [CloseTimeout]) for the records still in flight,
// closes a client the sink created, and returns a failure not returned yet.
func (s *Sink[T]) Close() error {
	if s.cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.closeTimeout)
	defer cancel()
	ferr := s.cl.Flush(ctx)
	if s.owned {
		s.cl.Close() // fails what is still buffered: the promises run first
	}
	s.err = errSinkClosed
	s.cl = nil
	if err := s.failure(); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("kafka: close: records still in flight: %w", ferr)
	}
	return nil
}
