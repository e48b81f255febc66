package stream

import (
	"errors"
	"fmt"
	"iter"

	"github.com/brook-streams/brook/stream/codec"
)

// BroadcastView is the read-only view of a [BroadcastState] that the
// function for a broadcast operator's main input gets: the main input reads
// the state, only the broadcast input changes it (so every instance keeps
// the same state).
type BroadcastView[K comparable, V any] interface {
	// Get returns the value of key k and whether there is one.
	Get(k K) (V, bool)
	// Len returns the number of keys.
	Len() int
	// All iterates over the keys and values, in no particular order. The
	// state must not change during the iteration.
	All() iter.Seq2[K, V]
}

// BroadcastState is the state a broadcast operator instance builds from the
// broadcast input ([ProcessBroadcast]): a map from K to V, checkpointed with
// the operator and restored into every instance, also at another
// parallelism. Each instance has its own; they are equal because every
// instance applies the same broadcast records in the same order.
type BroadcastState[K comparable, V any] struct {
	m map[K]V
}

// Get returns the value of key k and whether there is one.
func (s *BroadcastState[K, V]) Get(k K) (V, bool) {
	v, ok := s.m[k]
	return v, ok
}

// Len returns the number of keys.
func (s *BroadcastState[K, V]) Len() int { return len(s.m) }

// All iterates over the keys and values, in no particular order. Put and
// Delete may be called during the iteration, with the effects on it that
// they have on a Go map's range loop.
func (s *BroadcastState[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Put sets the value of key k.
func (s *BroadcastState[K, V]) Put(k K, v V) {
	if s.m == nil {
		s.m = make(map[K]V)
	}
	s.m[k] = v
}

// Delete removes key k.
func (s *BroadcastState[K, V]) Delete(k K) { delete(s.m, k) }

// Clear removes every key.
func (s *BroadcastState[K, V]) Clear() { clear(s.m) }

var _ BroadcastView[int, int] = (*BroadcastState[int, int])(nil)

// BroadcastElementFunc handles a record of the main input of a
// [ProcessBroadcast] operator: it may read the broadcast state, emit results
// with out, and return [Reject](reason) to send the record to the
// dead-letter output; any other error fails the run.
type BroadcastElementFunc[T any, K comparable, V, Out any] func(ctx *Context, r Record[T], state BroadcastView[K, V], out Emitter[Out]) error

// KeyedBroadcastElementFunc is the [BroadcastElementFunc] of
// [ProcessKeyedBroadcast]: it gets the record's key too.
type KeyedBroadcastElementFunc[Key comparable, T any, K comparable, V, Out any] func(ctx *Context, key Key, r Record[T], state BroadcastView[K, V], out Emitter[Out]) error

// BroadcastFunc handles a record of the broadcast input, in every instance
// of the operator: it updates the broadcast state. It must depend only on
// the record and the state (not on the instance, the clock or anything
// else), so every instance ends up with the same state. The record's value
// is shared by all instances, which run concurrently: it must not be
// modified. Results it emits come out of every instance, once each.
//
// Returning [Reject](reason) sends the record to the broadcast dead-letter
// output (once, from instance 0) instead of failing the run; the state
// changes made before the rejection stay.
type BroadcastFunc[B any, K comparable, V, Out any] func(ctx *Context, r Record[B], state *BroadcastState[K, V], out Emitter[Out]) error

// BroadcastOption configures [ProcessBroadcast] and [ProcessKeyedBroadcast]:
// [Name] and [BroadcastExchange] (see [OperatorConfig] for how option types
// relate).
type BroadcastOption func(*OperatorConfig)

type broadcastConfig struct {
	exchange []ExchangeOption
}

// BroadcastExchange passes options to the exchange that brings the main and
// the broadcast input together, e.g. [Parallelism].
func BroadcastExchange(opts ...ExchangeOption) BroadcastOption {
	return OptionFor[BroadcastOption](func(c *broadcastConfig) { c.exchange = append(c.exchange, opts...) })
}

// Broadcasted is the output of [ProcessBroadcast]: the results, and the
// records of either input that the functions rejected.
type Broadcasted[T, B, Out any] struct {
	Stream[Out]
	dead  *OutputTag[DeadLetter[T]]
	deadB *OutputTag[DeadLetter[B]]
}

// DeadLetters returns the main input's records that the element function
// rejected, with the reasons. If nothing consumes it, a rejected record
// fails the run instead.
func (b Broadcasted[T, B, Out]) DeadLetters() Stream[DeadLetter[T]] {
	return SideOutput(b.Stream, b.dead)
}

// BroadcastDeadLetters returns the broadcast records that the broadcast
// function rejected, once each (from instance 0), with the reasons. If
// nothing consumes it, a rejected broadcast record fails the run instead.
func (b Broadcasted[T, B, Out]) BroadcastDeadLetters() Stream[DeadLetter[B]] {
	return SideOutput(b.Stream, b.deadB)
}

// ProcessBroadcast connects s with a broadcast stream bc (rules, catalog
// updates, configuration), Flink's BroadcastProcessFunction: every instance
// of the operator receives every record of bc, in the same order, and
// applies it to its [BroadcastState] with onBroadcast; each record of s goes
// to one instance and is handled by onElement, which reads that state.
//
// s keeps its parallelism and its records stay on their instance (a forward
// connection, unless [BroadcastExchange] sets another [Parallelism]: then
// they are spread round robin). A parallel bc is first merged into one
// instance, so that all instances see its records in one order.
//
// # Event time
//
// Broadcast records are applied when they arrive, not at their event time:
// a main record is handled with the state made of the broadcast records
// that reached its instance before it. Which of the two inputs' records
// come first at an instance depends on how they interleave in processing
// time, as in Flink. What is fixed: each instance applies the same
// broadcast records in the same order; at a checkpoint every instance has
// applied exactly the broadcast records before the checkpoint's barrier;
// and the operator's watermark ([Context.Watermark]) is the minimum of both
// inputs' watermarks, leaving out an idle input. A broadcast input that is
// quiet for long therefore holds back the watermark downstream unless its
// source marks itself idle ([SourceOutput.MarkIdle], [WithIdleTimeout]) or
// ends; a bounded broadcast input that ends stops counting.
//
// # State
//
// With checkpoints on, each instance saves its broadcast state, encoded
// with [codec.For] for K and V. A restored run gives every instance the
// state, also at another parallelism (all instances then start from
// instance 0's). The operator keeps no other state: a main record that
// should wait for a rule must be kept by the caller's own operator.
//
// Its default name is s's name and ".broadcast.process", the exchange's
// s's name and ".broadcast"; named with [Name], the exchange is named after
// it with ".connect".
func ProcessBroadcast[T, B any, K comparable, V, Out any](s Stream[T], bc Stream[B], onElement BroadcastElementFunc[T, K, V, Out], onBroadcast BroadcastFunc[B, K, V, Out], opts ...BroadcastOption) Broadcasted[T, B, Out] {
	in := s.must()
	x, cfg := broadcastExchange[T, B](s, bc, nil, in.parallelism, opts)
	if x.parallelism == in.parallelism {
		x.forward = true
	}
	if onElement == nil || onBroadcast == nil {
		in.p.failf("%s: nil function", x.name)
	}
	return applyBroadcast(x, cfg, onElement, onBroadcast)
}

// ProcessKeyedBroadcast is [ProcessBroadcast] for a keyed main input, Flink's
// KeyedBroadcastProcessFunction: the records of s are partitioned by key
// (the key's key group, as [KeyBy] does; [Parallelism] given with
// [BroadcastExchange], default the pipeline's parallelism), and onElement
// gets each record's key. Every instance still receives every broadcast
// record. Keyed state of the caller's is not part of this operator's
// checkpoint.
func ProcessKeyedBroadcast[Key comparable, T, B any, K comparable, V, Out any](s Stream[T], key func(T) Key, bc Stream[B], onElement KeyedBroadcastElementFunc[Key, T, K, V, Out], onBroadcast BroadcastFunc[B, K, V, Out], opts ...BroadcastOption) Broadcasted[T, B, Out] {
	in := s.must()
	nilKey := key == nil
	if nilKey {
		key = func(T) Key { var k Key; return k }
	}
	h, err := StableHash[Key]()
	if err != nil {
		in.p.fail(fmt.Errorf("broadcast: %w", err))
		h = func(Key) uint64 { return 0 }
	}
	hash := func(e Either[T, B]) uint64 {
		if e.IsRight {
			return 0 // broadcast records go everywhere
		}
		return h(key(e.Left))
	}
	x, cfg := broadcastExchange(s, bc, hash, in.p.cfg.parallelism, opts)
	if nilKey {
		in.p.failf("%s: nil key function", x.name)
	}
	if onElement == nil || onBroadcast == nil {
		in.p.failf("%s: nil function", x.name)
	}
	var fn BroadcastElementFunc[T, K, V, Out]
	if onElement != nil {
		fn = func(c *Context, r Record[T], st BroadcastView[K, V], out Emitter[Out]) error {
			return onElement(c, key(r.Value), r, st, out)
		}
	}
	return applyBroadcast(x, cfg, fn, onBroadcast)
}

// broadcastExchange declares the exchange of a broadcast operator: s's
// instances first, routed by hash (nil: forward or round robin), then the
// one instance of bc, whose records go to every instance.
func broadcastExchange[T, B any](s Stream[T], bc Stream[B], hash func(Either[T, B]) uint64, parallelism int, opts []BroadcastOption) (*exchangeSpec[Either[T, B]], *OperatorConfig) {
	in := s.must()
	p := in.p
	var own broadcastConfig
	cfg := Configure("broadcast", &own, opts)
	if err := cfg.Err(); err != nil {
		p.fail(err)
	}
	xopts := own.exchange
	if name, ok := cfg.Name(); ok {
		xopts = append([]ExchangeOption{Name(name + ".connect")}, xopts...)
	}
	x := newExchange(p, in.name, "broadcast", parallelism, hash, xopts)
	if bc.must().p != p {
		p.failf("%s: streams of different pipelines", x.name)
		return x, cfg
	}
	x.attach(Map(s, func(v T) Either[T, B] { return Either[T, B]{Left: v} }, Name(x.name+".left")))
	if bc.must().parallelism > 1 {
		bc = exchange(bc, "merge", 1, nil, Name(x.name+".merge"))
	}
	x.broadcastFrom = x.senders
	x.attach(Map(bc, func(v B) Either[T, B] { return Either[T, B]{Right: v, IsRight: true} }, Name(x.name+".right")))
	return x, cfg
}

func applyBroadcast[T, B any, K comparable, V, Out any](x *exchangeSpec[Either[T, B]], cfg *OperatorConfig, onElement BroadcastElementFunc[T, K, V, Out], onBroadcast BroadcastFunc[B, K, V, Out]) Broadcasted[T, B, Out] {
	dead := NewOutputTag[DeadLetter[T]]("dead-letters")
	deadB := NewOutputTag[DeadLetter[B]]("broadcast-dead-letters")
	opName := cfg.As("process")
	if _, named := cfg.Name(); !named {
		opName = Name(x.name + ".process")
	}
	out := Apply(Stream[Either[T, B]]{o: x.down}, func() Operator[Either[T, B], Out] {
		return &broadcastOp[T, B, K, V, Out]{onElement: onElement, onBroadcast: onBroadcast, dead: dead, deadB: deadB,
			keys: codec.For[K](), vals: codec.For[V]()}
	}, opName)
	return Broadcasted[T, B, Out]{Stream: out, dead: dead, deadB: deadB}
}

type broadcastOp[T, B any, K comparable, V, Out any] struct {
	onElement   BroadcastElementFunc[T, K, V, Out]
	onBroadcast BroadcastFunc[B, K, V, Out]
	dead        *OutputTag[DeadLetter[T]]
	deadB       *OutputTag[DeadLetter[B]]
	keys        codec.Codec[K]
	vals        codec.Codec[V]

	c     *Context
	state BroadcastState[K, V]
}

// replicatedStater marks an operator whose instances all hold the same
// state: restored at another parallelism, each gets instance 0's.
type replicatedStater interface{ replicatedState() }

func (o *broadcastOp[T, B, K, V, Out]) replicatedState() {}

func (o *broadcastOp[T, B, K, V, Out]) Open(c *Context) error {
	o.c = c
	return nil
}

func (o *broadcastOp[T, B, K, V, Out]) ProcessRecord(r Record[Either[T, B]], out Emitter[Out]) error {
	if r.Value.IsRight {
		rb := Record[B]{Time: r.Time, Value: r.Value.Right}
		err := o.onBroadcast(o.c, rb, &o.state, out)
		if err == nil {
			return nil
		}
		if o.c.instance != 0 {
			if rej := (*RejectError)(nil); errors.As(err, &rej) {
				return nil // instance 0 reports it
			}
		}
		return rejected(o.c, o.deadB, rb, err)
	}
	rt := Record[T]{Time: r.Time, Value: r.Value.Left}
	if err := o.onElement(o.c, rt, &o.state, out); err != nil {
		return rejected(o.c, o.dead, rt, err)
	}
	return nil
}

// rejected sends r to the dead-letter output tag if err is a [RejectError]
// and returns err otherwise.
func rejected[X any](c *Context, tag *OutputTag[DeadLetter[X]], r Record[X], err error) error {
	var rej *RejectError
	if !errors.As(err, &rej) {
		return err
	}
	c.CountError(1)
	if !Connected(c, tag) {
		return fmt.Errorf("%w: rejected record at %v and no %s output: %w", ErrNotConnected, r.Time, tag.name, rej.Reason)
	}
	return Output(c, tag).Emit(Record[DeadLetter[X]]{Time: r.Time, Value: DeadLetter[X]{Record: r, Operator: c.name, Err: rej.Reason}})
}

func (o *broadcastOp[T, B, K, V, Out]) ProcessWatermark(Time, Emitter[Out]) error { return nil }

const broadcastStateVersion = 1

// Snapshot encodes the broadcast state: a version, the number of keys, and
// each key and value.
func (o *broadcastOp[T, B, K, V, Out]) Snapshot() ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(broadcastStateVersion)
	e.Uint(uint64(len(o.state.m)))
	for k, v := range o.state.m {
		o.keys.Append(e, k)
		o.vals.Append(e, v)
	}
	return e.Data(), nil
}

// Restore replaces the broadcast state with a snapshot's.
func (o *broadcastOp[T, B, K, V, Out]) Restore(b []byte) error {
	d := codec.NewDecoder(b, "broadcast state")
	d.Version(broadcastStateVersion)
	n := d.Count()
	m := make(map[K]V, min(n, 1<<16))
	for range n {
		if d.Err() != nil {
			break
		}
		k := o.keys.Decode(d)
		m[k] = o.vals.Decode(d)
	}
	if err := d.Finish(); err != nil {
		return err
	}
	o.state.m = m
	return nil
}

var (
	_ Snapshotter      = (*broadcastOp[int, int, int, int, int])(nil)
	_ replicatedStater = (*broadcastOp[int, int, int, int, int])(nil)
)
