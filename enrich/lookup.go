package enrich

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// ErrMissingKey is the reason a [Lookup] gives a record whose key is not in
// the table, wrapped with the key: it is the Err of the record's
// [stream.DeadLetter], and is wrapped by the run's error when no dead-letter
// output is connected.
var ErrMissingKey = errors.New("enrich: key not in table")

// LookupOption configures [Lookup]: [stream.Name] and this package's lookup
// options (see [stream.OperatorConfig] for how option types relate).
type LookupOption func(*stream.OperatorConfig)

type missingPolicy uint8

const (
	missingDeadLetter missingPolicy = iota
	missingDrop
	missingDefault
)

type lookupConfig struct {
	missing    missingPolicy
	defaultRow any
	batch      int
	maxWait    time.Duration
	timeout    time.Duration
	async      []stream.AsyncOption // nil: synchronous
	errs       []error
}

func lookupOptionFunc(set func(*lookupConfig)) LookupOption {
	return stream.OptionFor[LookupOption](set)
}

// DeadLetterMissing sends a record whose key is not in the table to the
// dead-letter output ([Enriched.DeadLetters]) with an [ErrMissingKey] reason,
// and counts it as an error in the operator's metrics. It is the default. If
// nothing consumes the dead-letter output, a missing key fails the run with
// [stream.ErrNotConnected] instead: a record is never dropped silently.
func DeadLetterMissing() LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) { c.missing, c.defaultRow = missingDeadLetter, nil })
}

// DropMissing drops a record whose key is not in the table and counts it
// with [stream.Context.CountError]: it shows in the Errors figure of the
// operator's [stream.OperatorMetrics] (e.g. the errors counter of
// stream/prom); under [Async], of the operator named after the lookup with
// ".out" appended, which passes the results on. Nothing else records it.
func DropMissing() LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) { c.missing, c.defaultRow = missingDrop, nil })
}

// DefaultRow joins a record whose key is not in the table with row instead.
// row must have the table's row type V; a row of another type makes the run
// fail with [stream.ErrInvalid] before the first record.
func DefaultRow[V any](row V) LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) { c.missing, c.defaultRow = missingDefault, row })
}

// Batch makes the lookup resolve up to n records with one [Table.GetMany]
// call (one round trip for a remote table) instead of one Get per record.
// Buffered records are resolved, in arrival order, when n are waiting, before
// every watermark the operator forwards (so no result falls behind a
// watermark), at end of input, and at the latest [MaxWait] after the first of
// them arrived. The default, 1, calls Get per record. A [MapTable] is always
// read record by record, directly: it never blocks, so batching gains
// nothing.
func Batch(n int) LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) {
		if n < 1 {
			c.errs = append(c.errs, fmt.Errorf("%w: lookup batch %d < 1", stream.ErrInvalid, n))
			return
		}
		c.batch = n
	})
}

// MaxWait bounds how long (processing time, by the pipeline's clock) a
// record may wait in a [Batch] before it is looked up; default 100ms. It is
// served by the pipeline's processing-time timers, so it is approximate: a
// lookup chained directly behind a source sees its timers when the source
// emits or flushes. Zero disables the bound.
func MaxWait(d time.Duration) LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) {
		if d < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: negative lookup max wait", stream.ErrInvalid))
			return
		}
		c.maxWait = d
	})
}

// Timeout bounds every Get and GetMany call with a context deadline; a call
// that times out fails the run. Zero, the default, leaves the deadline to the
// table (a Redis client's own read and write timeouts, for instance).
func Timeout(d time.Duration) LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) {
		if d < 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: negative lookup timeout", stream.ErrInvalid))
			return
		}
		c.timeout = d
	})
}

// Async makes the lookup asynchronous, built on [stream.Async]: every
// record's Get is a request of its own, with up to [stream.MaxInFlight]
// (default 100) outstanding per instance, so the latency of a remote table
// overlaps instead of adding up. opts are stream.Async's options: the
// result order ([stream.Unordered]; in order by default), the request
// timeout ([stream.RequestTimeout], on the pipeline's clock; [Timeout] is
// taken as its default), retries with backoff ([stream.RetryRequests]) and
// whether a lookup that still fails fails the run (the default) or becomes
// a dead letter ([stream.DeadLetterFailed]). The missing-key policy is
// applied as without Async. Async excludes [Batch]: each request is one
// Get.
//
// With checkpoints on, the records of outstanding lookups are checkpointed
// (by stream.Async, with encoding/gob) and looked up again after a restore.
func Async(opts ...stream.AsyncOption) LookupOption {
	return lookupOptionFunc(func(c *lookupConfig) { c.async = append([]stream.AsyncOption{}, opts...) })
}

// Enriched is the output of [Lookup]: the joined stream, and the records
// whose key was missing from the table.
type Enriched[T, Out any] struct {
	stream.Stream[Out]
	dead func() stream.Stream[stream.DeadLetter[T]]
}

// DeadLetters returns the records whose key was not in the table, each with
// an [ErrMissingKey] reason (only under [DeadLetterMissing], the default).
// If nothing consumes it, a missing key fails the run.
func (e Enriched[T, Out]) DeadLetters() stream.Stream[stream.DeadLetter[T]] {
	return e.dead()
}

// Lookup joins every record of s with the row of its key in table: the
// result is join(value, row), at the record's time. A missing key follows
// the policy chosen with [DeadLetterMissing] (the default), [DropMissing] or
// [DefaultRow]. An error from the table fails the run, wrapped with the
// operator's name and the key: a record is never passed on unjoined.
//
// Lookup runs chained to s, one instance per instance of s, each calling the
// table from its own goroutine. The order of records is kept, also with
// [Batch]. It is a [stream.BatchProcessor]: the Map, Filter and FlatMap
// functions in front of it run a batch of records at a time, and with a
// [MapTable] it looks a whole batch up in one loop. Its default name is
// its input's name and ".lookup" (see [stream.Name]).
//
// With checkpoints on, the records waiting in a batch are part of the
// checkpoint, encoded with [codec.For] of T (gob only for a type that gives
// no codec of its own). When s is a KeyBy's output (see
// [stream.Stream.RecordKeyGroup]) they are kept by key group, so the
// checkpoint restores at any parallelism: each record goes back to the
// instance owning its key, ahead of that key's later records. On any other
// stream (a Rebalance, a Map after KeyBy) a batch belongs to its instance,
// and the checkpoint restores at the same parallelism only (another fails
// the run with [stream.ErrInvalid]); put the lookup right after a KeyBy to
// rescale it.
func Lookup[T any, K comparable, V, Out any](s stream.Stream[T], table Table[K, V], key func(T) K, join func(T, V) Out, opts ...LookupOption) Enriched[T, Out] {
	cfg := lookupConfig{batch: 1, maxWait: 100 * time.Millisecond}
	oc := stream.Configure("lookup", &cfg, opts)
	if err := oc.Err(); err != nil {
		cfg.errs = append(cfg.errs, err)
	}
	if table == nil {
		cfg.errs = append(cfg.errs, fmt.Errorf("%w: nil lookup table", stream.ErrInvalid))
	}
	if key == nil || join == nil {
		cfg.errs = append(cfg.errs, fmt.Errorf("%w: nil lookup key or join function", stream.ErrInvalid))
	}
	var def V
	if cfg.missing == missingDefault {
		d, ok := cfg.defaultRow.(V)
		if !ok {
			cfg.errs = append(cfg.errs, fmt.Errorf("%w: DefaultRow of type %T for a table of %v rows",
				stream.ErrInvalid, cfg.defaultRow, reflect.TypeFor[V]()))
		}
		def = d
	}
	dead := stream.NewOutputTag[stream.DeadLetter[T]]("dead-letters")
	set := &lookupSettings[T, K, V, Out]{cfg: cfg, table: table, key: key, join: join, def: def, dead: dead}
	if cfg.async != nil {
		return asyncLookup(s, set, oc)
	}
	group, keyed := s.RecordKeyGroup()
	set.codec = codec.For[T]()
	out := stream.Apply(s, func() stream.Operator[T, Out] {
		o := &lookupOp[T, K, V, Out]{lookupSettings: set}
		if keyed {
			return &keyedLookupOp[T, K, V, Out]{lookupOp: o, group: group}
		}
		return &instanceLookupOp[T, K, V, Out]{o}
	}, oc.As(""))
	return Enriched[T, Out]{Stream: out, dead: func() stream.Stream[stream.DeadLetter[T]] { return stream.SideOutput(out, dead) }}
}

// lookedUp is an async lookup's result: the joined value, or nothing (a
// missing key under DropMissing).
type lookedUp[Out any] struct {
	v  Out
	ok bool
}

// asyncLookup is Lookup under [Async]: a [stream.Async] request per record,
// then an operator that passes the joined values on and counts the records
// DropMissing dropped.
func asyncLookup[T any, K comparable, V, Out any](s stream.Stream[T], set *lookupSettings[T, K, V, Out], oc *stream.OperatorConfig) Enriched[T, Out] {
	cfg := set.cfg
	if cfg.batch > 1 {
		cfg.errs = append(cfg.errs, fmt.Errorf("%w: lookup with both Async and Batch", stream.ErrInvalid))
	}
	opts := []stream.AsyncOption{oc.As("")}
	if cfg.timeout > 0 {
		opts = append(opts, stream.RequestTimeout(cfg.timeout))
	}
	fn := func(ctx context.Context, v T) (lookedUp[Out], error) {
		k := set.key(v)
		row, ok, err := set.table.Get(ctx, k)
		if err != nil {
			return lookedUp[Out]{}, fmt.Errorf("lookup of key %v: %w", k, err)
		}
		if ok {
			return lookedUp[Out]{v: set.join(v, row), ok: true}, nil
		}
		switch cfg.missing {
		case missingDefault:
			return lookedUp[Out]{v: set.join(v, set.def), ok: true}, nil
		case missingDrop:
			return lookedUp[Out]{}, nil
		}
		return lookedUp[Out]{}, stream.Reject(fmt.Errorf("%w: %v", ErrMissingKey, k))
	}
	res := stream.Async(s, fn, append(opts, cfg.async...)...)
	out := stream.Apply(res.Stream, func() stream.Operator[lookedUp[Out], Out] { return &unwrapOp[Out]{errs: cfg.errs} },
		stream.Name(res.Name()+".out"))
	return Enriched[T, Out]{Stream: out, dead: res.DeadLetters}
}

// unwrapOp passes an async lookup's joined values on and counts the
// records dropped for a missing key. It reports the lookup's configuration
// mistakes when the run starts.
type unwrapOp[Out any] struct {
	c    *stream.Context
	errs []error
}

func (u *unwrapOp[Out]) Open(c *stream.Context) error {
	u.c = c
	return errors.Join(u.errs...)
}

func (u *unwrapOp[Out]) ProcessRecord(r stream.Record[lookedUp[Out]], out stream.Emitter[Out]) error {
	if !r.Value.ok {
		u.c.CountError(1)
		return nil
	}
	return out.Emit(stream.Record[Out]{Time: r.Time, Value: r.Value.v})
}

func (u *unwrapOp[Out]) ProcessWatermark(stream.Time, stream.Emitter[Out]) error { return nil }

// lookupSettings is shared, read-only, by every instance of a lookup.
type lookupSettings[T any, K comparable, V, Out any] struct {
	cfg   lookupConfig
	table Table[K, V]
	key   func(T) K
	join  func(T, V) Out
	def   V
	dead  *stream.OutputTag[stream.DeadLetter[T]]
	codec codec.Codec[T] // of the buffered records
}

type lookupOp[T any, K comparable, V, Out any] struct {
	*lookupSettings[T, K, V, Out]
	c      *stream.Context
	deadTo stream.Emitter[stream.DeadLetter[T]]
	deadOK bool
	mem    *MapTable[K, V]      // the table, when it is a MapTable and nothing is buffered
	joined []stream.Record[Out] // ProcessBatch's output, reused

	// the batch waiting for GetMany
	recs     []stream.Record[T]
	keys     []K
	rows     []V
	found    []bool
	deadline time.Time
	pending  bool // a timer is registered for deadline
}

func (o *lookupOp[T, K, V, Out]) Open(c *stream.Context) error {
	if len(o.cfg.errs) > 0 {
		return errors.Join(o.cfg.errs...)
	}
	o.c = c
	if mt, ok := o.table.(*MapTable[K, V]); ok && len(o.recs) == 0 {
		// A MapTable never blocks or fails: batching it gains nothing.
		o.mem = mt
	}
	o.deadOK = stream.Connected(c, o.dead)
	o.deadTo = stream.Output(c, o.dead)
	if n := max(o.cfg.batch, len(o.recs)); n > 1 || len(o.recs) > 0 {
		if o.recs == nil { // else restored
			o.recs = make([]stream.Record[T], 0, n)
			o.keys = make([]K, 0, n)
		}
		o.rows = make([]V, n)
		o.found = make([]bool, n)
	}
	if len(o.recs) > 0 && o.cfg.maxWait > 0 {
		o.deadline = c.Clock().Now().Add(o.cfg.maxWait)
		o.pending = true
		c.RegisterTimer(o.deadline)
	}
	return nil
}

// instanceLookupOp is a lookup on a stream that is not keyed: its batch is
// the instance's state ([stream.Snapshotter]), so its checkpoints restore
// at the same parallelism only.
type instanceLookupOp[T any, K comparable, V, Out any] struct {
	*lookupOp[T, K, V, Out]
}

// lookupBatchVersion starts an instance's batch snapshot. It is outside
// the bytes an encoding/gob stream can begin with (a message length: below
// 0x80, or 0xf8-0xff for a multi-byte one), so Restore tells the gob
// snapshots of earlier versions apart and still reads them.
const lookupBatchVersion = 0x81

// Snapshot saves the records waiting in a [Batch], in order: each record's
// time and its value encoded with [codec.For] of the record type (gob only
// for types with no codec of their own). Without batching there is nothing
// to save.
func (o *instanceLookupOp[T, K, V, Out]) Snapshot() (b []byte, err error) {
	if len(o.recs) == 0 {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil { // a gob fallback of a type it cannot encode
			b, err = nil, fmt.Errorf("snapshot of %d buffered records: %v", len(o.recs), r)
		}
	}()
	var e codec.Encoder
	e.Byte(lookupBatchVersion)
	e.Uint(uint64(len(o.recs)))
	for i := range o.recs {
		e.Int(int64(o.recs[i].Time))
		o.codec.Append(&e, o.recs[i].Value)
	}
	return e.Data(), nil
}

// Restore puts back the records that were waiting in the batch. It also
// reads the encoding/gob snapshots of brook versions before the codec.
func (o *instanceLookupOp[T, K, V, Out]) Restore(b []byte) error {
	o.recs, o.keys = nil, nil
	if len(b) == 0 {
		return nil
	}
	var recs []stream.Record[T]
	if b[0] == lookupBatchVersion {
		d := codec.NewDecoder(b, "lookup buffer")
		d.Version(lookupBatchVersion)
		n := d.Count()
		if n == 0 && d.Err() == nil {
			d.Fail("empty batch") // Snapshot writes nothing for one
		}
		recs = make([]stream.Record[T], 0, n)
		for range n {
			t := stream.Time(d.Int())
			v := o.codec.Decode(d)
			if d.Err() != nil {
				break
			}
			recs = append(recs, stream.Record[T]{Time: t, Value: v})
		}
		if err := d.Finish(); err != nil {
			return err
		}
	} else if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&recs); err != nil {
		return fmt.Errorf("%w: lookup buffer (neither this version's encoding nor an earlier gob one): %v", stream.ErrCorruptCheckpoint, err)
	}
	o.recs = recs
	for _, r := range recs {
		o.keys = append(o.keys, o.key(r.Value))
	}
	return nil
}

// keyedLookupOp is a lookup reading a KeyBy's output: the records waiting
// in its batch are checkpointed by key group, so its checkpoints restore at
// any parallelism, each record going back to the instance owning its key.
type keyedLookupOp[T any, K comparable, V, Out any] struct {
	*lookupOp[T, K, V, Out]
	group func(T) int
}

const lookupGroupVersion = 1

// SnapshotKeyGroup saves the records of key group g waiting in the batch,
// in arrival order (encoded with [codec.For] of the record type). It
// implements [stream.KeyGroupSnapshotter].
func (o *keyedLookupOp[T, K, V, Out]) SnapshotKeyGroup(g int) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // a gob fallback of a type it cannot encode
			b, err = nil, fmt.Errorf("snapshot of the buffered records of key group %d: %v", g, r)
		}
	}()
	n := 0
	for i := range o.recs {
		if o.group(o.recs[i].Value) == g {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	var e codec.Encoder
	e.Byte(lookupGroupVersion)
	e.Uint(uint64(n))
	for i := range o.recs {
		if r := &o.recs[i]; o.group(r.Value) == g {
			e.Int(int64(r.Time))
			o.codec.Append(&e, r.Value)
		}
	}
	return e.Data(), nil
}

// RestoreKeyGroup adds the waiting records of key group g to the batch. It
// implements [stream.KeyGroupSnapshotter].
func (o *keyedLookupOp[T, K, V, Out]) RestoreKeyGroup(g int, b []byte) error {
	d := codec.NewDecoder(b, fmt.Sprintf("lookup buffer of key group %d", g))
	d.Version(lookupGroupVersion)
	n := d.Count()
	for range n {
		t := stream.Time(d.Int())
		v := o.codec.Decode(d)
		if d.Err() != nil {
			break
		}
		if kg := o.group(v); kg != g {
			d.Fail("record of key group %d", kg)
			break
		}
		o.recs = append(o.recs, stream.Record[T]{Time: t, Value: v})
		o.keys = append(o.keys, o.key(v))
	}
	return d.Finish()
}

// get and getMany call the table with the run's context, so a call blocked
// when the run stops is cancelled, and with the [Timeout] deadline if set.
func (o *lookupOp[T, K, V, Out]) get(k K) (V, bool, error) {
	ctx, cancel := o.callContext()
	defer cancel()
	return o.table.Get(ctx, k)
}

func (o *lookupOp[T, K, V, Out]) getMany(n int) error {
	ctx, cancel := o.callContext()
	defer cancel()
	return o.table.GetMany(ctx, o.keys, o.rows[:n], o.found[:n])
}

func (o *lookupOp[T, K, V, Out]) callContext() (context.Context, context.CancelFunc) {
	ctx := o.c.RunContext()
	if o.cfg.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, o.cfg.timeout)
}

func (o *lookupOp[T, K, V, Out]) ProcessRecord(r stream.Record[T], out stream.Emitter[Out]) error {
	k := o.key(r.Value)
	if o.mem != nil { // in-memory table: no call through the interface
		v, ok := o.mem.lookup(k)
		return o.resolve(r, k, v, ok, out)
	}
	if o.cfg.batch <= 1 {
		v, ok, err := o.get(k)
		if err != nil {
			return fmt.Errorf("lookup of key %v: %w", k, err)
		}
		return o.resolve(r, k, v, ok, out)
	}
	o.recs = append(o.recs, r)
	o.keys = append(o.keys, k)
	if len(o.recs) >= o.cfg.batch {
		return o.flush(out)
	}
	if len(o.recs) == 1 && o.cfg.maxWait > 0 {
		o.deadline = o.c.Clock().Now().Add(o.cfg.maxWait)
		if !o.pending {
			o.pending = true
			o.c.RegisterTimer(o.deadline)
		}
	}
	return nil
}

// ProcessBatch looks a run of records up, as ProcessRecord would each in
// turn: with an in-memory table in one loop, each record reading the
// table's current version, and the joined records handed on together
// ([stream.EmitBatch]); with any other table record by record. Being a
// [stream.BatchProcessor] lets the functions in front of the lookup run a
// batch at a time: a lookup reads no clock per record and calls only its own
// key and join functions.
func (o *lookupOp[T, K, V, Out]) ProcessBatch(rs []stream.Record[T], out stream.Emitter[Out]) error {
	mem := o.mem
	if mem == nil {
		for i := range rs {
			if err := o.ProcessRecord(rs[i], out); err != nil {
				return err
			}
		}
		return nil
	}
	joined := o.joined[:0]
	for i := range rs {
		r := &rs[i]
		k := o.key(r.Value)
		v, ok := mem.lookup(k)
		if !ok {
			if o.cfg.missing != missingDefault {
				// dropped or a dead letter: nothing for the main output
				if err := o.resolve(*r, k, v, false, out); err != nil {
					return err
				}
				continue
			}
			v = o.def
		}
		joined = append(joined, stream.Record[Out]{Time: r.Time, Value: o.join(r.Value, v)})
	}
	o.joined = joined
	err := stream.EmitBatch(out, joined)
	clear(joined) // let the joined values be collected
	return err
}

func (o *lookupOp[T, K, V, Out]) resolve(r stream.Record[T], k K, v V, ok bool, out stream.Emitter[Out]) error {
	if ok {
		return out.Emit(stream.Record[Out]{Time: r.Time, Value: o.join(r.Value, v)})
	}
	switch o.cfg.missing {
	case missingDefault:
		return out.Emit(stream.Record[Out]{Time: r.Time, Value: o.join(r.Value, o.def)})
	case missingDrop:
		o.c.CountError(1)
		return nil
	}
	o.c.CountError(1)
	reason := fmt.Errorf("%w: %v", ErrMissingKey, k)
	if !o.deadOK {
		return fmt.Errorf("%w: record at %v has a missing key and no dead-letter output is connected: %w",
			stream.ErrNotConnected, r.Time, reason)
	}
	return o.deadTo.Emit(stream.Record[stream.DeadLetter[T]]{Time: r.Time,
		Value: stream.DeadLetter[T]{Record: r, Operator: o.c.Name(), Err: reason}})
}

// flush resolves the buffered records with one GetMany, in arrival order.
func (o *lookupOp[T, K, V, Out]) flush(out stream.Emitter[Out]) error {
	n := len(o.recs)
	if n == 0 {
		return nil
	}
	if n > len(o.rows) { // restored batches of several instances, merged
		o.rows, o.found = make([]V, n), make([]bool, n)
	}
	if err := o.getMany(n); err != nil {
		return fmt.Errorf("lookup of %d keys (first %v): %w", n, o.keys[0], err)
	}
	var zero V
	for i := range n {
		if err := o.resolve(o.recs[i], o.keys[i], o.rows[i], o.found[i], out); err != nil {
			return err
		}
		o.rows[i] = zero // let the table's rows be collected
	}
	clear(o.recs)
	o.recs = o.recs[:0]
	o.keys = o.keys[:0]
	return nil
}

func (o *lookupOp[T, K, V, Out]) ProcessWatermark(_ stream.Time, out stream.Emitter[Out]) error {
	return o.flush(out)
}

// OnTimer resolves the batch once its oldest record has waited MaxWait.
func (o *lookupOp[T, K, V, Out]) OnTimer(now time.Time, out stream.Emitter[Out]) error {
	o.pending = false
	if len(o.recs) == 0 {
		return nil
	}
	if now.Before(o.deadline) {
		o.pending = true
		o.c.RegisterTimer(o.deadline)
		return nil
	}
	return o.flush(out)
}

var (
	_ stream.TimerHandler[int]        = (*lookupOp[int, int, int, int])(nil)
	_ stream.BatchProcessor[int, int] = (*lookupOp[int, int, int, int])(nil)
	_ stream.Snapshotter              = (*instanceLookupOp[int, int, int, int])(nil)
	_ stream.KeyGroupSnapshotter      = (*keyedLookupOp[int, int, int, int])(nil)
)
