package enrich

import (
	"errors"
	"fmt"

	"github.com/brook-streams/brook/stream"
)

// JoinOption configures the two-stream joins ([IntervalJoin], [WindowJoin]
// and their outer variants): [stream.Name] and this package's join
// options (see [stream.OperatorConfig] for how option types relate).
type JoinOption func(*stream.OperatorConfig)

type joinConfig struct {
	op       *stream.OperatorConfig
	exchange []stream.ExchangeOption
	probe    func(maxState, finalState int) // tests only: state size of each instance at Close
	// discardLate: late records with no consumer of Late are counted and
	// dropped instead of failing the run.
	discardLate bool
	errs        []error
}

func joinOptionFunc(set func(*joinConfig)) JoinOption { return stream.OptionFor[JoinOption](set) }

// JoinExchange passes options to the exchange that brings both inputs
// together by key ([stream.Connect]), e.g. [stream.Parallelism].
func JoinExchange(opts ...stream.ExchangeOption) JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.exchange = append(c.exchange, opts...) })
}

// DiscardLate drops the late input records of a join whose [Joined.Late]
// nobody consumes, after counting them in the operator's Late metric.
// Without it such a late record fails the run with [stream.ErrNotConnected],
// as an unconsumed dead letter does. A consumed Late gets them either way.
func DiscardLate() JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.discardLate = true })
}

// newJoinConfig applies opts for a join of kind ("interval-join",
// "window-join"): the join's default name is the name of the exchange that
// connects its inputs and the kind (see [stream.Name]). A named join names
// that exchange after itself, with ".connect", unless [JoinExchange] names
// it.
func newJoinConfig(kind string, opts []JoinOption) *joinConfig {
	cfg := &joinConfig{}
	cfg.op = stream.Configure(kind, cfg, opts)
	if err := cfg.op.Err(); err != nil {
		cfg.errs = append(cfg.errs, err)
	}
	if name, ok := cfg.op.Name(); ok {
		cfg.exchange = append([]stream.ExchangeOption{stream.Name(name + ".connect")}, cfg.exchange...)
	}
	return cfg
}

func (c *joinConfig) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{stream.ErrInvalid}, args...)...))
}

func (c *joinConfig) err() error { return errors.Join(c.errs...) }

// Joined is the output of a two-stream join: the joined stream, and the
// input records that arrived late.
type Joined[A, B, Out any] struct {
	stream.Stream[Out]
	late func() stream.Stream[stream.Either[A, B]]
}

// Late returns the input records the join did not take because they were
// late: their time was at or below the join's watermark (the minimum of both
// inputs' watermarks) when they arrived, so the results they belong to may
// already have been emitted and their partners' state dropped (for a
// [WindowJoin]: records whose windows had all fired). Late records are
// counted in the join operator's Late metric whether or not this output is
// consumed; if nothing consumes it, a late record fails the run with
// [stream.ErrNotConnected] unless the join has [DiscardLate] (Flink's joins
// drop them silently; brook drops nothing it was not told to). Late records
// keep their own event time.
func (j Joined[A, B, Out]) Late() stream.Stream[stream.Either[A, B]] {
	return j.late()
}

// lateOut routes a late input record: counted, and sent to the late output
// when something consumes it; else dropped with [DiscardLate], or failing
// the run.
type lateOut[A, B any] struct {
	c       *stream.Context
	tag     *stream.OutputTag[stream.Either[A, B]]
	to      stream.Emitter[stream.Either[A, B]]
	ok      bool
	discard bool
}

func (l *lateOut[A, B]) open(c *stream.Context, tag *stream.OutputTag[stream.Either[A, B]], discard bool) {
	l.c, l.tag, l.discard = c, tag, discard
	l.ok = stream.Connected(c, tag)
	l.to = stream.Output(c, tag)
}

func (l *lateOut[A, B]) emit(r stream.Record[stream.Either[A, B]]) error {
	l.c.CountLate(1)
	if l.ok {
		return l.to.Emit(r)
	}
	if l.discard {
		return nil
	}
	side := "left"
	if r.Value.IsRight {
		side = "right"
	}
	return fmt.Errorf("%w: %s record at %v is late (the join's watermark is %v) and nothing consumes the late output: consume Late() or give enrich.DiscardLate()", stream.ErrNotConnected, side, r.Time, l.c.Watermark())
}
