package stream

import "unsafe"

type ctrlKind uint8

const (
	ctrlWatermark ctrlKind = iota // the input watermark advanced to wm
	ctrlIdle                      // the input has gone idle
	ctrlFlush                     // the input ran dry: hand buffered records on
	ctrlEnd                       // the input ended (after the MaxTime watermark, unless stop)
	ctrlBarrier                   // checkpoint barrier id: snapshot, then forward
)

type control struct {
	kind ctrlKind
	wm   Time
	id   int64 // checkpoint id of a barrier
	stop bool  // ctrlEnd: the pipeline stops with a savepoint (no MaxTime came)
}

// inlet is what a node instance exposes to the node before it in a chain:
// records by direct call, and the in-band control messages.
type inlet[T any] interface {
	Emitter[T]
	ctrl(c control) error
}

// batchInlet is an inlet that also takes records a slice at a time: the
// runtime's own nodes implement it, so a chain runs batch-at-a-time (one
// loop per operator and batch, one call per batch between operators) while
// user operators keep their per-record Emitter.
//
// emitBatch(rs) delivers the records of rs in order, with no control
// message in between. rs is lent for the call: the callee may overwrite its
// elements (a filter compacts it in place) but must not keep it.
//
// Running a function over a whole batch before the next operator sees the
// first record changes how user code interleaves along the chain: a user
// operator ([Apply], [Process], windows, joins) may read the clock or see
// the side effects of an earlier function, and must get each record right
// after the functions before it ran for that record, as one at a time.
// canBatch reports whether the node and everything after it in the chain
// are free of such operators, so that functions in front of it may run
// ahead a batch at a time; where it is false, emitBatch goes record by record.
type batchInlet[T any] interface {
	inlet[T]
	emitBatch(rs []Record[T]) error
	canBatch() bool
}

// markedInlet is a batchInlet that also takes the watermarks between the
// records of a batch: emitMarked(rs, marks) equals, for each mark in order,
// delivering the records before marks[i].at and then the watermark
// marks[i].wm (marks with at == len(rs) follow the last record). A source
// whose watermark rises with every record hands its batches to an exchange
// this way, instead of cutting them into single records.
type markedInlet[T any] interface {
	batchInlet[T]
	emitMarked(rs []Record[T], marks []mark) error
}

// watermarkedInlet is the head of a chain behind an exchange receiver that
// takes a received run of records together with the watermarks between
// them in one call: emitWatermarked(rs, marks) must equal what
// splitMarked does (the records before each mark, then its watermark),
// but may skip the work of a watermark that triggers nothing and forward
// such watermarks lazily, before its next output or control message and at
// the latest when the call returns. Unlike a markedInlet it makes no
// promise to batch: records still reach a user operator one at a time,
// in order, so sources never collect records for it.
type watermarkedInlet[T any] interface {
	inlet[T]
	emitWatermarked(rs []Record[T], marks []mark) error
}

// splitMarked delivers rs and marks as runs of records and watermarks.
func splitMarked[T any](in batchInlet[T], rs []Record[T], marks []mark) error {
	start := 0
	for _, m := range marks {
		if m.at > start {
			if err := in.emitBatch(rs[start:m.at]); err != nil {
				return err
			}
			start = m.at
		}
		if err := in.ctrl(control{kind: ctrlWatermark, wm: m.wm}); err != nil {
			return err
		}
	}
	if start < len(rs) {
		return in.emitBatch(rs[start:])
	}
	return nil
}

// valuesInlet is a batchInlet that also takes a batch of values at time 0
// (the built-in slice source's): emitValues(vs) equals emitBatch of the
// records {Time: 0, Value: v}, without the caller building them first.
type valuesInlet[T any] interface {
	batchInlet[T]
	emitValues(vs []T) error
}

// canBatch reports whether the functions in front of in may run a batch
// ahead of it (see batchInlet).
func canBatch[T any](in inlet[T]) bool {
	b, ok := in.(batchInlet[T])
	return ok && b.canBatch()
}

// sidesCanBatch reports whether every side output's chain (the inlets
// buildSides made) takes batches.
func sidesCanBatch(sides map[any]any) bool {
	for _, in := range sides {
		b, ok := in.(interface{ canBatch() bool })
		if !ok || !b.canBatch() {
			return false
		}
	}
	return true
}

// asBatch returns in as a batchInlet, adapting a per-record inlet.
func asBatch[T any](in inlet[T]) batchInlet[T] {
	if b, ok := in.(batchInlet[T]); ok {
		return b
	}
	return perRecord[T]{in}
}

// perRecord adapts a per-record inlet to batches.
type perRecord[T any] struct{ inlet[T] }

func (p perRecord[T]) canBatch() bool { return false }

func (p perRecord[T]) emitBatch(rs []Record[T]) error {
	for i := range rs {
		if err := p.Emit(rs[i]); err != nil {
			return err
		}
	}
	return nil
}

// batchTo is how a node hands its records on: whole batches to nextB when
// the chain after it takes them (see batchInlet), else record by record,
// decided at the node's first batch.
type batchTo[T any] struct {
	nextB batchInlet[T]
	depth int8 // 0: not decided yet, 1: a batch at a time, -1: record by record
}

// batched reports whether the node hands next whole batches, deciding it
// at the first call.
func (b *batchTo[T]) batched(next inlet[T]) bool {
	if b.depth == 0 {
		b.depth = -1
		if canBatch(next) {
			b.depth, b.nextB = 1, asBatch(next)
		}
	}
	return b.depth > 0
}

// batchLen is the number of records of type T a node buffers for a batch:
// up to 1024, fewer for large records, so a buffer stays near 16 KiB and
// the buffers of a chain stay in the first-level cache.
func batchLen[T any]() int {
	size := int(unsafe.Sizeof(Record[T]{}))
	return max(16, min(1024, 16<<10/max(size, 1)))
}

// DefaultBatchSize is the number of records of type T an exchange carries
// per message unless [WithBatchSize] or [BatchSize] says otherwise: 1024,
// fewer for records over 64 bytes (a [Record] of T, its time included),
// so that a batch stays near 64 KiB, and at least 16. Larger batches
// spread the cost of a channel operation and a goroutine wake-up over
// more records; a source that waits for input flushes a partial batch
// first, so a quiet pipeline holds no record back.
func DefaultBatchSize[T any]() int {
	size := int(unsafe.Sizeof(Record[T]{}))
	return max(16, min(1024, 64<<10/max(size, 1)))
}

// batchSizeFor is the pipeline's batch size for records of type T.
func batchSizeFor[T any](p *Pipeline) int {
	if n := p.cfg.batchSize; n > 0 {
		return n
	}
	return DefaultBatchSize[T]()
}

// Stream is a typed stream of records in a pipeline under construction.
// The zero Stream is not usable.
type Stream[T any] struct {
	o *outlet[T]
}

// Pipeline returns the pipeline s belongs to.
func (s Stream[T]) Pipeline() *Pipeline { return s.must().p }

// RecordKeyGroup returns the function from a record's value to its key
// group, and true, when s is the stream of a [KeyedStream] made by [KeyBy]:
// an operator applied to s then gets the records of the key groups its
// instance owns ([Context.KeyGroups]), and may keep state by key group
// ([KeyGroupSnapshotter]) without knowing the key. It returns false for
// any other stream, a Map or Filter after KeyBy included.
func (s Stream[T]) RecordKeyGroup() (func(T) int, bool) {
	g := s.must().keyGroup
	return g, g != nil
}

// Parallelism returns the number of parallel instances producing s.
func (s Stream[T]) Parallelism() int { return s.must().parallelism }

// Name returns the name of the operator producing s.
func (s Stream[T]) Name() string { return s.must().name }

func (s Stream[T]) must() *outlet[T] {
	if s.o == nil {
		panic("stream: use of a zero Stream; streams come from From and the operators")
	}
	return s.o
}

// outlet is the logical output of an operator: who consumes it, and the
// operator's side outputs.
type outlet[T any] struct {
	p           *Pipeline
	name        string
	parallelism int
	consumers   []func(b *builder, inst int) (inlet[T], error)
	sides       map[any]anyOutlet // *OutputTag[X] -> *outlet[X]
	sidesOK     bool
	keyGroup    func(T) int // a record's key group, on KeyBy's output
}

type anyOutlet interface {
	buildAny(b *builder, inst int) (any, error)
	// sideEmitter is the emitter an operator (node id of task t) gets
	// from [Output] for the side output whose chain starts at in.
	sideEmitter(in any, t *task, id int) any
}

func (o *outlet[T]) buildAny(b *builder, inst int) (any, error) { return o.build(b, inst) }

func (o *outlet[T]) sideEmitter(in any, t *task, id int) any {
	return &sideEmitter[T]{next: in.(inlet[T]), t: t, id: id}
}

// sideEmitter is an operator's emitter of a side output. Once the chain
// behind has returned, the operator's own code goes on, so it sets t.cur
// back to the operator's node: a panic there is the operator's.
type sideEmitter[T any] struct {
	next inlet[T]
	t    *task
	id   int
}

func (e *sideEmitter[T]) Emit(r Record[T]) error {
	err := e.next.Emit(r)
	e.t.cur = e.id
	return err
}

// sideEmitters returns the emitters of the side outputs whose chains
// buildSides made (sides), for the operator of node id in task t.
func (o *outlet[T]) sideEmitters(sides map[any]any, t *task, id int) map[any]any {
	if len(sides) == 0 {
		return nil
	}
	m := make(map[any]any, len(sides))
	for tag, in := range sides {
		m[tag] = o.sides[tag].sideEmitter(in, t, id)
	}
	return m
}

func newOutlet[T any](p *Pipeline, name string, parallelism int) *outlet[T] {
	return &outlet[T]{p: p, name: name, parallelism: parallelism}
}

func (o *outlet[T]) consume(f func(b *builder, inst int) (inlet[T], error)) {
	o.consumers = append(o.consumers, f)
}

// build instantiates everything downstream of this outlet for instance inst.
func (o *outlet[T]) build(b *builder, inst int) (inlet[T], error) {
	switch len(o.consumers) {
	case 0:
		return discard[T]{}, nil
	case 1:
		return o.consumers[0](b, inst)
	}
	fan := &fanout[T]{outs: make([]inlet[T], 0, len(o.consumers))}
	for _, c := range o.consumers {
		in, err := c(b, inst)
		if err != nil {
			return nil, err
		}
		fan.outs = append(fan.outs, in)
	}
	return fan, nil
}

// buildSides instantiates the side outputs of instance inst.
func (o *outlet[T]) buildSides(b *builder, inst int) (map[any]any, []func(control) error, error) {
	if len(o.sides) == 0 {
		return nil, nil, nil
	}
	m := make(map[any]any, len(o.sides))
	var ctrls []func(control) error
	for tag, so := range o.sides {
		in, err := so.buildAny(b, inst)
		if err != nil {
			return nil, nil, err
		}
		m[tag] = in
		ctrls = append(ctrls, in.(interface{ ctrl(control) error }).ctrl)
	}
	return m, ctrls, nil
}

// SideOutput returns the stream of the side output tag of the operator that
// produces s. Only operators built with [Apply] or [Process] have side outputs.
func SideOutput[X, T any](s Stream[T], tag *OutputTag[X]) Stream[X] {
	o := s.must()
	if tag == nil {
		o.p.failf("%s: nil output tag", o.name)
	} else if !o.sidesOK {
		o.p.failf("%s: operator has no side outputs (tag %q)", o.name, tag.name)
	}
	if o.sides == nil {
		o.sides = map[any]anyOutlet{}
	}
	if prev, ok := o.sides[tag]; ok {
		return Stream[X]{o: prev.(*outlet[X])}
	}
	so := newOutlet[X](o.p, o.name+"."+tagName(tag), o.parallelism)
	o.sides[tag] = so
	return Stream[X]{o: so}
}

func tagName[X any](t *OutputTag[X]) string {
	if t == nil {
		return "nil"
	}
	return t.name
}

type discard[T any] struct{}

func (discard[T]) Emit(Record[T]) error        { return nil }
func (discard[T]) emitBatch([]Record[T]) error { return nil }
func (discard[T]) ctrl(control) error          { return nil }
func (discard[T]) canBatch() bool              { return true }

type fanout[T any] struct {
	outs    []inlet[T]
	batched []batchInlet[T]
	scratch []Record[T]
}

func (f *fanout[T]) canBatch() bool {
	for _, o := range f.outs {
		if !canBatch(o) {
			return false
		}
	}
	return true
}

// emitBatch hands every consumer the batch; all but the last get a copy,
// since a consumer may overwrite what it is lent.
func (f *fanout[T]) emitBatch(rs []Record[T]) error {
	if f.batched == nil {
		f.batched = make([]batchInlet[T], len(f.outs))
		for i, o := range f.outs {
			f.batched[i] = asBatch(o)
		}
	}
	last := len(f.batched) - 1
	for i, o := range f.batched {
		if i == last {
			return o.emitBatch(rs)
		}
		f.scratch = append(f.scratch[:0], rs...)
		if err := o.emitBatch(f.scratch); err != nil {
			return err
		}
	}
	return nil
}

func (f *fanout[T]) Emit(r Record[T]) error {
	for _, o := range f.outs {
		if err := o.Emit(r); err != nil {
			return err
		}
	}
	return nil
}

func (f *fanout[T]) ctrl(c control) error {
	for _, o := range f.outs {
		if err := o.ctrl(c); err != nil {
			return err
		}
	}
	return nil
}
