package stream

import (
	"context"
	"slices"
	"time"
)

// An exchange moves records between tasks: from every instance upstream to
// the chosen instance downstream, over bounded channels that carry batches of
// records with the watermarks, idle marks and end-of-input between them.

type mark struct {
	at int  // number of records in the batch before this watermark
	wm Time // the sender's watermark from here on
}

type batch[T any] struct {
	from    int
	recs    []Record[T]
	marks   []mark
	idle    bool  // the sender went idle after this batch
	end     bool  // the sender finished after this batch
	stop    bool  // with end: the pipeline stopped with a savepoint (no MaxTime)
	barrier int64 // a checkpoint barrier follows this batch's contents
}

// ExchangeOption configures an exchange ([KeyBy], [Rebalance], [Union],
// [Connect]): [Name], [Parallelism], [BatchSize], [ChannelCapacity] (see
// [OperatorConfig] for how option types relate).
type ExchangeOption func(*OperatorConfig)

type exchangeConfig struct {
	parallelism, batch, capacity int
}

// Parallelism sets the number of parallel instances after the exchange.
func Parallelism(n int) ExchangeOption {
	return OptionFor[ExchangeOption](func(c *exchangeConfig) { c.parallelism = n })
}

// BatchSize sets the records per exchange message for this exchange.
func BatchSize(n int) ExchangeOption {
	return OptionFor[ExchangeOption](func(c *exchangeConfig) { c.batch = n })
}

// ChannelCapacity sets the batches buffered per downstream instance.
func ChannelCapacity(n int) ExchangeOption {
	return OptionFor[ExchangeOption](func(c *exchangeConfig) { c.capacity = n })
}

type exchangeSpec[T any] struct {
	name        string
	down        *outlet[T]
	senders     int
	parallelism int
	batch       int
	capacity    int
	hash        func(T) uint64 // nil: round robin (or everything to the one instance)
	forward     bool           // sender i sends its records to instance i (hash unset)
	// broadcastFrom: senders with an id from here on send every record to
	// every instance ([ProcessBroadcast]); 0 means none (a broadcast input
	// is attached after the other one).
	broadcastFrom int

	maxPar int // key groups, for a keyed exchange
}

// newExchange declares an exchange of kind reading the stream named parent
// into parallelism instances (unless opts set it).
func newExchange[T any](p *Pipeline, parent, kind string, parallelism int, hash func(T) uint64, opts []ExchangeOption) *exchangeSpec[T] {
	cfg := exchangeConfig{parallelism: parallelism, batch: batchSizeFor[T](p), capacity: p.cfg.capacity}
	name := p.opName(parent, Configure(kind, &cfg, opts))
	if cfg.parallelism < 1 {
		p.failf("%s: parallelism %d < 1", name, cfg.parallelism)
		cfg.parallelism = 1
	}
	if cfg.parallelism > p.cfg.maxParallelism {
		p.failf("%s: parallelism %d > max parallelism %d", name, cfg.parallelism, p.cfg.maxParallelism)
		cfg.parallelism = p.cfg.maxParallelism
	}
	if cfg.batch < 1 {
		p.failf("%s: batch size %d < 1", name, cfg.batch)
		cfg.batch = 1
	}
	if cfg.capacity < 1 {
		p.failf("%s: channel capacity %d < 1", name, cfg.capacity)
		cfg.capacity = 1
	}
	return &exchangeSpec[T]{
		name: name, down: newOutlet[T](p, name, cfg.parallelism),
		parallelism: cfg.parallelism, batch: cfg.batch, capacity: cfg.capacity, hash: hash,
		maxPar: p.cfg.maxParallelism,
	}
}

// attach connects the instances of s as senders of the exchange.
func (x *exchangeSpec[T]) attach(s Stream[T]) {
	in := s.must()
	offset := x.senders
	x.senders += in.parallelism
	in.consume(func(b *builder, inst int) (inlet[T], error) {
		xr := exchangeRunOf(b.rt, x)
		s := xr.newSender(b.rt.ctx, offset+inst)
		if x.hash != nil {
			// The key function runs in the sender, in the upstream task (with
			// more than one instance: see newSender): a panic in it is
			// reported under the exchange's name (the KeyBy's).
			s.t, s.node = b.t, b.t.node(x.name)
		}
		return s, nil
	})
}

// exchange is the common case: one input, into parallelism instances.
func exchange[T any](s Stream[T], kind string, parallelism int, hash func(T) uint64, opts ...ExchangeOption) Stream[T] {
	in := s.must()
	x := newExchange(in.p, in.name, kind, parallelism, hash, opts)
	x.attach(s)
	return Stream[T]{o: x.down}
}

type exchangeRun[T any] struct {
	spec  *exchangeSpec[T]
	chans []chan *batch[T]
	free  chan *batch[T]
}

func exchangeRunOf[T any](rt *runtime_, x *exchangeSpec[T]) *exchangeRun[T] {
	if xr, ok := rt.exchanges[x]; ok {
		return xr.(*exchangeRun[T])
	}
	xr := &exchangeRun[T]{spec: x, chans: make([]chan *batch[T], x.parallelism)}
	xr.free = make(chan *batch[T], x.parallelism*(x.capacity+2)+x.senders*x.parallelism)
	for j := range xr.chans {
		xr.chans[j] = make(chan *batch[T], x.capacity)
	}
	rt.exchanges[x] = xr
	// The receiving tasks, one per downstream instance.
	for j := range x.parallelism {
		b := rt.newBuilder()
		id := b.t.node(x.name)
		cnt := b.t.newCounts(rt, x.name, j)
		chain, err := x.down.build(b, j)
		r := &receiver[T]{x: xr, j: j, t: b.t, id: id, cnt: cnt, chain: chain, idleTimeout: rt.p.cfg.idleTimeout}
		b.t.body = func(ctx context.Context) error {
			if err != nil {
				return err
			}
			return r.run(ctx)
		}
	}
	return xr
}

func (xr *exchangeRun[T]) get() *batch[T] {
	select {
	case b := <-xr.free:
		return b
	default:
		return &batch[T]{recs: make([]Record[T], 0, xr.spec.batch)}
	}
}

func (xr *exchangeRun[T]) put(b *batch[T]) {
	b.recs = b.recs[:0]
	b.marks = b.marks[:0]
	b.idle, b.end, b.stop, b.barrier = false, false, false, 0
	select {
	case xr.free <- b:
	default:
	}
}

func (xr *exchangeRun[T]) newSender(ctx context.Context, id int) *sender[T] {
	n := xr.spec.parallelism
	s := &sender[T]{xr: xr, id: id, n: n, ctx: ctx, done: ctx.Done(), hash: xr.spec.hash,
		bufs: make([]*batch[T], n), sent: make([]Time, n), wm: MinTime, size: xr.spec.batch, fixed: -1}
	if xr.spec.forward {
		s.fixed = id % n
	}
	s.all = xr.spec.broadcastFrom > 0 && id >= xr.spec.broadcastFrom
	if n == 1 {
		// One instance owns every key group: there is nothing to route, so
		// the key is not computed here (the keyed operator after the
		// exchange computes it for its state).
		s.hash = nil
	}
	if s.hash != nil {
		s.router = newKeyRouter(n, xr.spec.maxPar)
	}
	for j := range s.sent {
		s.sent[j] = MinTime
	}
	return s
}

// sender is the upstream end of an exchange in one task: it buffers records
// per downstream instance and sends full batches. Watermarks are recorded
// lazily: each downstream instance learns the watermark just before its next
// record (or when a batch is sent), which keeps their order with the records
// it receives exactly as upstream had it.
type sender[T any] struct {
	xr   *exchangeRun[T]
	id   int
	n    int
	size int
	hash func(T) uint64
	bufs []*batch[T]
	sent []Time // the watermark each downstream instance has been told
	wm   Time
	rr   int
	// fixed is the one instance a forward exchange's sender sends to, or -1.
	fixed int
	all   bool // a broadcast sender: every record to every instance
	stop  bool // ending with a savepoint
	ctx   context.Context
	done  <-chan struct{}

	router *keyRouter // key group -> instance, for a keyed exchange
	t      *task      // the upstream task, for a keyed exchange
	node   int        // the exchange's name in t, current while the key function runs
}

func (s *sender[T]) Emit(r Record[T]) error {
	if s.all {
		return s.addAll(r)
	}
	return s.add(s.pick(r.Value), r)
}

// addAll adds r to every instance's batch, for a broadcast sender: each
// instance gets the records in the order the sender has them.
func (s *sender[T]) addAll(r Record[T]) error {
	for j := range s.n {
		if err := s.add(j, r); err != nil {
			return err
		}
	}
	return nil
}

// pick returns the downstream instance of a record with value v.
func (s *sender[T]) pick(v T) int {
	j := 0
	if s.hash != nil {
		prev := s.t.cur
		s.t.cur = s.node
		j = s.router.route(s.hash(v))
		s.t.cur = prev
	} else if s.fixed >= 0 {
		j = s.fixed
	} else if s.n > 1 {
		j = s.rr
		if s.rr++; s.rr == s.n {
			s.rr = 0
		}
	}
	return j
}

// add appends r to instance j's batch, behind the watermark it must see
// first, and sends the batches once j's is full.
func (s *sender[T]) add(j int, r Record[T]) error {
	b := s.bufs[j]
	if b == nil {
		b = s.xr.get()
		s.bufs[j] = b
	}
	if s.sent[j] != s.wm {
		b.marks = append(b.marks, mark{at: len(b.recs), wm: s.wm})
		s.sent[j] = s.wm
	}
	b.recs = append(b.recs, r)
	if len(b.recs) >= s.size {
		return s.flushAll(false, false, 0)
	}
	return nil
}

func (s *sender[T]) canBatch() bool { return true }

// emitBatch routes a batch. With one downstream instance (or a forward
// exchange) the records are copied on in runs (emitMarkedTo without
// marks): there is nothing to route.
func (s *sender[T]) emitBatch(rs []Record[T]) error {
	if s.all && s.n > 1 {
		for i := range rs {
			if err := s.addAll(rs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if s.n == 1 || s.fixed >= 0 {
		return s.emitMarkedTo(max(s.fixed, 0), rs, nil)
	}
	for i := range rs {
		if err := s.add(s.pick(rs[i].Value), rs[i]); err != nil {
			return err
		}
	}
	return nil
}

// emitValues routes values at time 0 (see valuesInlet), building the
// records in the destination's batch.
func (s *sender[T]) emitValues(vs []T) error {
	if s.all || (s.n > 1 && s.fixed < 0) {
		for _, v := range vs {
			r := Record[T]{Value: v}
			var err error
			if s.all {
				err = s.addAll(r)
			} else {
				err = s.add(s.pick(v), r)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	j := max(s.fixed, 0)
	for len(vs) > 0 {
		b := s.bufs[j]
		if b == nil {
			b = s.xr.get()
			s.bufs[j] = b
		}
		if s.sent[j] != s.wm {
			b.marks = append(b.marks, mark{at: len(b.recs), wm: s.wm})
			s.sent[j] = s.wm
		}
		k := min(len(vs), max(s.size-len(b.recs), 1))
		n0 := len(b.recs)
		b.recs = slices.Grow(b.recs, k)[:n0+k]
		for i, v := range vs[:k] {
			b.recs[n0+i] = Record[T]{Value: v}
		}
		vs = vs[k:]
		if len(b.recs) >= s.size {
			if err := s.flushAll(false, false, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitMarked routes a batch together with the watermarks between its
// records (see markedInlet): the watermark work is one comparison per
// record and destination, as for records that arrive one at a time, with
// no call per watermark.
func (s *sender[T]) emitMarked(rs []Record[T], marks []mark) error {
	if (s.n == 1 || s.fixed >= 0) && !s.all {
		return s.emitMarkedTo(max(s.fixed, 0), rs, marks)
	}
	mi := 0
	for i := range rs {
		for mi < len(marks) && marks[mi].at <= i {
			s.wm = max(s.wm, marks[mi].wm)
			mi++
		}
		if s.all {
			if err := s.addAll(rs[i]); err != nil {
				return err
			}
			continue
		}
		if err := s.add(s.pick(rs[i].Value), rs[i]); err != nil {
			return err
		}
	}
	for ; mi < len(marks); mi++ {
		s.wm = max(s.wm, marks[mi].wm)
	}
	return nil
}

// emitMarkedTo is emitMarked with one destination, j: nothing to route.
// The records go into j's batch a run at a time; a watermark is recorded
// where a record arrives after it raised the sender's (as add would, one
// record at a time): at the run's first record, and where a mark is.
func (s *sender[T]) emitMarkedTo(j int, rs []Record[T], marks []mark) error {
	mi := 0
	for lo := 0; lo < len(rs); {
		b := s.bufs[j]
		if b == nil {
			b = s.xr.get()
			s.bufs[j] = b
		}
		hi := min(len(rs), lo+max(s.size-len(b.recs), 1))
		shift := len(b.recs) - lo
		for at := lo; ; {
			for ; mi < len(marks) && marks[mi].at <= at; mi++ {
				s.wm = max(s.wm, marks[mi].wm)
			}
			if s.sent[j] != s.wm {
				b.marks = append(b.marks, mark{at: at + shift, wm: s.wm})
				s.sent[j] = s.wm
			}
			if mi == len(marks) || marks[mi].at >= hi {
				break
			}
			at = marks[mi].at
		}
		b.recs = append(b.recs, rs[lo:hi]...)
		lo = hi
		if len(b.recs) >= s.size {
			if err := s.flushAll(false, false, 0); err != nil {
				return err
			}
		}
	}
	for ; mi < len(marks); mi++ {
		s.wm = max(s.wm, marks[mi].wm)
	}
	return nil
}

func (s *sender[T]) ctrl(c control) error {
	switch c.kind {
	case ctrlWatermark:
		if c.wm > s.wm {
			s.wm = c.wm
		}
	case ctrlIdle:
		return s.flushAll(true, false, 0)
	case ctrlFlush:
		return s.flushAll(false, false, 0)
	case ctrlEnd:
		if c.stop {
			s.stop = true
		} else {
			s.wm = MaxTime
		}
		return s.flushAll(false, true, 0)
	case ctrlBarrier:
		return s.flushAll(false, false, c.id)
	}
	return nil
}

// flushAll sends every pending batch or watermark; with idle or end, a
// message goes to every downstream instance.
func (s *sender[T]) flushAll(idle, end bool, barrier int64) error {
	for j := range s.bufs {
		b := s.bufs[j]
		if b == nil {
			if s.sent[j] == s.wm && !idle && !end && barrier == 0 {
				continue
			}
			b = s.xr.get()
		}
		if s.sent[j] != s.wm {
			b.marks = append(b.marks, mark{at: len(b.recs), wm: s.wm})
			s.sent[j] = s.wm
		}
		b.from, b.idle, b.end, b.barrier = s.id, idle, end, barrier
		b.stop = end && s.stop
		s.bufs[j] = nil
		ch := s.xr.chans[j]
		select {
		case ch <- b:
		default:
			select {
			case ch <- b:
			case <-s.done:
				return s.ctx.Err()
			}
		}
	}
	return nil
}

// receiver is the downstream end of an exchange: the head of a task. It
// merges its inputs' watermarks (the minimum over inputs that are neither
// idle nor finished) and pushes records into its chain.
type receiver[T any] struct {
	x           *exchangeRun[T]
	j           int
	t           *task
	id          int
	cnt         *counts
	chain       inlet[T]
	chainB      batchInlet[T]
	chainW      watermarkedInlet[T] // chain, when it takes records with watermarks
	marks       []mark              // handle's output watermarks, reused
	idleTimeout time.Duration

	wms      []Time
	idle     []bool
	ended    []bool
	lastSeen []time.Time
	nEnded   int
	out      Time
	outIdle  bool

	// checkpoint barrier alignment: inputs whose barrier has arrived are
	// held back until every input has delivered it (or ended).
	aligning   int64
	alignStart time.Time
	arrived    []bool
	held       []*batch[T]

	// stopped: an input ended with a savepoint, so the watermark stays
	// where it is (the windows it would fire belong to the resumed run).
	stopped bool
}

func (r *receiver[T]) run(ctx context.Context) error {
	n := r.x.spec.senders
	r.wms = make([]Time, n)
	r.idle = make([]bool, n)
	r.ended = make([]bool, n)
	for k := range r.wms {
		r.wms[k] = MinTime
	}
	r.out = MinTime
	if n == 0 {
		return r.finish()
	}
	if r.idleTimeout > 0 {
		r.lastSeen = make([]time.Time, n)
		now := r.t.clock.Now()
		for k := range r.lastSeen {
			r.lastSeen[k] = now
		}
		r.t.addTimer(now.Add(r.idleTimeout), r.checkIdle)
	}
	in := r.x.chans[r.j]
	done := ctx.Done()
	for {
		var b *batch[T]
		select {
		case b = <-in:
		case <-done:
			return ctx.Err()
		case <-r.t.wake:
			if err := r.t.fireTimers(); err != nil {
				return err
			}
			continue
		}
		if r.aligning != 0 && r.arrived[b.from] {
			r.held = append(r.held, b)
			continue
		}
		if err := r.handle(b); err != nil {
			return err
		}
		r.x.put(b)
		if r.aligning != 0 {
			if err := r.tryRelease(); err != nil {
				return err
			}
		}
		if r.nEnded == n {
			return r.finish()
		}
		if len(in) == 0 {
			if r.cnt.m != nil {
				r.cnt.m.QueueFill(0, cap(in))
			}
			if err := r.chain.ctrl(control{kind: ctrlFlush}); err != nil {
				return err
			}
			r.t.report()
		} else if r.cnt.m != nil {
			r.cnt.m.QueueFill(len(in), cap(in))
			r.t.report()
		}
	}
}

// tryRelease completes an alignment once every input that has not ended has
// delivered the barrier: the barrier goes down the chain, then the batches
// held back are handled in arrival order.
func (r *receiver[T]) tryRelease() error {
	for r.aligning != 0 {
		for k := range r.arrived {
			if !r.arrived[k] && !r.ended[k] {
				return nil
			}
		}
		id := r.aligning
		r.aligning = 0
		clear(r.arrived)
		if am, ok := r.cnt.m.(AlignmentMetrics); ok {
			am.Alignment(r.t.clock.Now().Sub(r.alignStart))
		}
		if err := r.chain.ctrl(control{kind: ctrlBarrier, id: id}); err != nil {
			return err
		}
		held := r.held
		r.held = nil
		for _, b := range held {
			if r.aligning != 0 && r.arrived[b.from] {
				r.held = append(r.held, b) // blocked again by a newer barrier
				continue
			}
			if err := r.handle(b); err != nil {
				return err
			}
			r.x.put(b)
		}
	}
	return nil
}

func (r *receiver[T]) finish() error {
	if !r.stopped {
		if err := r.advance(); err != nil {
			return err
		}
	}
	if r.cnt.m != nil {
		r.cnt.m.QueueFill(0, r.x.spec.capacity)
	}
	r.t.report()
	return r.chain.ctrl(control{kind: ctrlEnd, stop: r.stopped})
}

func (r *receiver[T]) handle(b *batch[T]) error {
	k := b.from
	if r.lastSeen != nil {
		r.lastSeen[k] = r.t.clock.Now()
	}
	if r.idle[k] && (len(b.recs) > 0 || len(b.marks) > 0) {
		r.idle[k] = false
		r.outIdle = false
	}
	// The input's watermarks become the output's, marked where the output
	// watermark rises; the records go down the chain with them in one call.
	var marks []mark
	if len(r.wms) == 1 && !b.end {
		// One input: its watermarks are the output's. A sender marks only
		// rises, so past those at or below the output's they all rise, and
		// the batch's own marks go down the chain as they are.
		marks = b.marks
		for len(marks) > 0 && marks[0].wm <= r.out {
			marks = marks[1:]
		}
		if n := len(marks); n > 0 {
			r.out = marks[n-1].wm
			r.wms[0], r.cnt.wm = r.out, r.out
		}
	} else {
		marks = r.marks[:0]
		for _, m := range b.marks {
			if b.end && m.wm == MaxTime && m.at >= len(b.recs) {
				break // an input's end leaves the minimum rather than raising it
			}
			if w, ok := r.input(k, m.wm); ok {
				marks = append(marks, mark{at: m.at, wm: w})
			}
		}
		r.marks = marks
	}
	if len(b.recs) > 0 || len(marks) > 0 {
		r.cnt.in += int64(len(b.recs))
		if err := r.deliver(b.recs, marks); err != nil {
			return err
		}
	}
	r.cnt.out = r.cnt.in
	if b.barrier != 0 {
		if r.arrived == nil {
			r.arrived = make([]bool, len(r.wms))
		}
		if r.aligning == 0 {
			r.aligning = b.barrier
			if r.cnt.m != nil {
				r.alignStart = r.t.clock.Now()
			}
		}
		r.arrived[k] = true
	}
	if b.end {
		r.ended[k] = true
		r.nEnded++
		if b.stop {
			r.stopped = true
			return nil
		}
		r.wms[k] = MaxTime
		return r.advance()
	}
	if b.idle {
		return r.setIdle(k)
	}
	return nil
}

// deliver hands the chain rs with the output watermarks marks between them.
func (r *receiver[T]) deliver(rs []Record[T], marks []mark) error {
	if r.chainB == nil {
		r.chainB = asBatch(r.chain)
		r.chainW, _ = r.chain.(watermarkedInlet[T])
	}
	r.t.cur = r.id
	if r.chainW != nil {
		return r.chainW.emitWatermarked(rs, marks)
	}
	return splitMarked(r.chainB, rs, marks)
}

// input records watermark w of input k and returns the output watermark
// when that rises (see advance); the caller forwards it.
func (r *receiver[T]) input(k int, w Time) (Time, bool) {
	if w <= r.wms[k] {
		return 0, false
	}
	r.wms[k] = w
	if len(r.wms) == 1 && !r.idle[0] { // one input: its watermark is the output's
		if w <= r.out {
			return 0, false
		}
		r.out = w
		r.cnt.wm = w
		return w, true
	}
	return r.raise()
}

func (r *receiver[T]) setIdle(k int) error {
	r.idle[k] = true
	if err := r.advance(); err != nil {
		return err
	}
	for i := range r.idle {
		if !r.idle[i] && !r.ended[i] {
			return nil
		}
	}
	if r.outIdle {
		return nil
	}
	r.outIdle = true
	return r.chain.ctrl(control{kind: ctrlIdle})
}

// advance recomputes the output watermark and forwards it if it rose: the
// minimum over the inputs that are neither idle nor finished. When every
// unfinished input is idle it releases the largest watermark they reached
// (as Flink's watermark valve does), so nothing waits on silent inputs; an
// input that rejoins below it may bring late records. When all inputs have
// finished it is MaxTime.
func (r *receiver[T]) advance() error {
	m, ok := r.raise()
	if !ok {
		return nil
	}
	r.t.cur = r.id
	return r.chain.ctrl(control{kind: ctrlWatermark, wm: m})
}

// raise recomputes the output watermark (see advance) and returns it when
// it rose.
func (r *receiver[T]) raise() (Time, bool) {
	if r.stopped {
		return 0, false
	}
	m, active, open := MaxTime, false, false
	for i, w := range r.wms {
		if r.ended[i] {
			continue
		}
		open = true
		if r.idle[i] {
			continue
		}
		active = true
		m = min(m, w)
	}
	if open && !active {
		m = MinTime
		for i, w := range r.wms {
			if !r.ended[i] {
				m = max(m, w)
			}
		}
	}
	if m <= r.out {
		return 0, false
	}
	r.out = m
	r.cnt.wm = m
	return m, true
}

func (r *receiver[T]) checkIdle(now time.Time) error {
	var next time.Time
	for k := range r.lastSeen {
		if r.idle[k] || r.ended[k] {
			continue
		}
		due := r.lastSeen[k].Add(r.idleTimeout)
		if !due.After(now) {
			if err := r.setIdle(k); err != nil {
				return err
			}
			continue
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.IsZero() {
		next = now.Add(r.idleTimeout)
	}
	r.t.addTimer(next, r.checkIdle)
	return nil
}
