package window

import (
	"slices"
	"unsafe"

	"github.com/brook-streams/brook/stream"
)

// Tumbling and sliding windows are aligned: every key shares the same
// windows, so the store keeps one pane per window holding the cells of all
// its keys. Retired panes go to a free list with their slots and index, so
// a steady stream allocates nothing per window.

// pane is one tumbling or sliding window with the cells of all its keys, in
// the order the keys first appeared.
type pane[K comparable, Acc any] struct {
	sched // at: End-1 until it fires, then End-1+lateness; idx -1 once closed
	span  Span
	fired bool
	gen   uint32 // bumped when the pane is retired: early-firing refs to it go stale
	slots []slot[K, Acc]
	index keyIndex // no table while the pane has had at most smallPane keys
}

type slot[K comparable, Acc any] struct {
	cell[Acc]
	key K
}

// smallPane is the number of keys up to which a pane finds a key by
// scanning its slots, which beats hashing; beyond it, a keyIndex indexes
// them.
const smallPane = 12

// indexed reports whether the pane finds keys by their hash.
func (p *pane[K, Acc]) indexed() bool { return p.index.ents != nil }

// scan returns the slot of k in a pane without an index, or -1.
func (p *pane[K, Acc]) scan(k K) int32 {
	for i := range p.slots {
		if p.slots[i].key == k {
			return int32(i)
		}
	}
	return -1
}

// find returns the slot of k, or -1 and the index position at which k's
// probe ended, for insert. h is k's hash if the pane is indexed, else
// unused.
func (p *pane[K, Acc]) find(k K, h uint64) (int32, int) {
	if !p.indexed() {
		return p.scan(k), 0
	}
	ents := p.index.ents
	mask := len(ents) - 1
	tag := uint32(h >> 32)
	for pos := int(h) & mask; ; pos = (pos + 1) & mask {
		e := ents[pos]
		if e.slot == 0 {
			return -1, pos
		}
		if e.tag == tag && p.slots[e.slot-1].key == k {
			return e.slot - 1, pos
		}
	}
}

// insert appends a slot for k, a key the pane does not hold, and indexes
// the slots once there are more than smallPane. h is k's hash if the pane
// is indexed, and pos where find's probe for k ended, or -1.
func (p *pane[K, Acc]) insert(k K, h uint64, pos int, acc Acc, hs *keyHasher[K]) int32 {
	i := int32(len(p.slots))
	if len(p.slots) == cap(p.slots) {
		// Double: append's gentler growth for large slices would copy (and
		// allocate) several times the final size while a pane fills.
		p.slots = slices.Grow(p.slots, max(smallPane, len(p.slots)))
	}
	p.slots = append(p.slots, slot[K, Acc]{key: k, cell: cell[Acc]{acc: acc}})
	switch {
	case p.indexed():
		if pos < 0 {
			pos = p.index.home(h)
		}
		if !p.index.put(h, pos, i) {
			p.reindex(hs, 2*len(p.slots))
		}
	case len(p.slots) > smallPane:
		p.reindex(hs, 2*len(p.slots))
	}
	return i
}

// reindex indexes every slot afresh, in a table for at least n keys.
func (p *pane[K, Acc]) reindex(hs *keyHasher[K], n int) {
	p.index.reserve(max(n, len(p.slots)))
	for j := range p.slots {
		h := hs.of(p.slots[j].key)
		p.index.put(h, p.index.home(h), int32(j))
	}
}

// paneRef points at a slot waiting for an EarlyInterval firing.
type paneRef[K comparable, Acc any] struct {
	p   *pane[K, Acc]
	gen uint32
	i   int32
}

// paneStore holds the panes of tumbling or sliding windows.
type paneStore[K comparable, T, Acc, Out any] struct {
	o       *op[K, T, Acc, Out]
	sliding bool
	panes   map[Span]*pane[K, Acc]
	ph      dueHeap[*pane[K, Acc]]
	last    *pane[K, Acc]   // tumbling: the pane of the previous record
	slot    []*pane[K, Acc] // sliding: the panes of every time in [slotLo, slotHi), while slotOK
	slotLo  stream.Time
	slotHi  stream.Time
	slotOK  bool
	free    []*pane[K, Acc] // retired panes, emptied, for reuse
	dirty   []paneRef[K, Acc]
	keyHint int                     // the keys of the last retired pane: the next one's likely size
	ords    map[*pane[K, Acc]][]int // while restoring: the cells' places in the panes that wrote them
	hash    keyHasher[K]            // for the panes' keyIndex
	pending []pendingAdd[K, T, Acc] // records waiting to be added to indexed panes (see addPending)
	touched int32                   // the sum of the index entries addPending loaded early
}

func newPaneStore[K comparable, T, Acc, Out any](o *op[K, T, Acc, Out]) *paneStore[K, T, Acc, Out] {
	return &paneStore[K, T, Acc, Out]{o: o, sliding: o.a.kind == kindSliding, hash: newKeyHasher[K]()}
}

func (s *paneStore[K, T, Acc, Out]) reset() {
	*s = paneStore[K, T, Acc, Out]{o: s.o, sliding: s.sliding, hash: s.hash, panes: map[Span]*pane[K, Acc]{}}
}

func (s *paneStore[K, T, Acc, Out]) due() (stream.Time, bool) {
	return s.ph.top(), len(s.ph.items) > 0
}

func (s *paneStore[K, T, Acc, Out]) hasDirty() bool { return len(s.dirty) > 0 }

func (s *paneStore[K, T, Acc, Out]) add(r stream.Record[T], t stream.Time, out stream.Emitter[Result[K, Out]]) error {
	o := s.o
	k := o.key(r.Value)
	if !s.sliding {
		p := s.last
		if p == nil || t < p.span.Start || t >= p.span.End {
			sp := o.a.nth(t, 0)
			p = s.panes[sp]
			if p == nil {
				if o.closed(sp.End) {
					return o.late(r, []Span{sp})
				}
				p = s.open(sp)
			}
			s.last = p
		}
		if !p.fired && !o.triggers && !p.indexed() {
			// addTo's work for a key a small pane that fires nothing yet
			// holds (the common case), inline.
			if i := p.scan(k); i >= 0 {
				s.fold(&p.slots[i].cell, r)
				return nil
			}
		}
		return s.addTo(p, k, r, out)
	}
	if !s.slotOK || t < s.slotLo || t >= s.slotHi {
		if !s.place(t) {
			return o.late(r, o.a.Windows(t))
		}
	}
	for _, p := range s.slot {
		if err := s.addTo(p, k, r, out); err != nil {
			return err
		}
	}
	return nil
}

// place sets s.slot to the open sliding panes containing t, opening the
// missing ones, and reports whether there is any.
func (s *paneStore[K, T, Acc, Out]) place(t stream.Time) bool {
	o := s.o
	n := o.a.count(t)
	s.slot, s.slotOK = s.slot[:0], false
	for i := n - 1; i >= 0; i-- {
		sp := o.a.nth(t, i)
		p := s.panes[sp]
		if p == nil {
			if o.closed(sp.End) {
				continue
			}
			p = s.open(sp)
		}
		s.slot = append(s.slot, p)
	}
	if len(s.slot) == 0 {
		return false
	}
	// Every time in [lo, hi) belongs to the same windows: from the newest
	// start to the next one, and from the end of the window before the
	// oldest to the oldest's end. Cache them while all are open.
	if len(s.slot) == n {
		oldest, newest := s.slot[0].span, s.slot[n-1].span
		lo, hi := newest.Start, oldest.End
		if oldest.Start > stream.MinTime+o.a.slide && newest.Start < stream.MaxTime-o.a.slide && hi < stream.MaxTime {
			lo = max(lo, oldest.Start-o.a.slide+o.a.size)
			hi = min(hi, newest.Start+o.a.slide)
			s.slotLo, s.slotHi, s.slotOK = lo, hi, true
		}
	}
	return true
}

// open makes the pane of sp, reusing a retired one if there is any.
func (s *paneStore[K, T, Acc, Out]) open(sp Span) *pane[K, Acc] {
	o := s.o
	var p *pane[K, Acc]
	if n := len(s.free); n > 0 {
		p = s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
	} else {
		// Size a new pane like the last retired one, or like the ones open
		// now: at a window boundary the next window opens before the last
		// one closes.
		hint := s.keyHint
		if s.last != nil {
			hint = max(hint, len(s.last.slots))
		}
		for _, q := range s.slot {
			hint = max(hint, len(q.slots))
		}
		p = &pane[K, Acc]{}
		if hint > 0 {
			p.slots = make([]slot[K, Acc], 0, hint)
		}
		if hint > smallPane {
			p.index.reserve(hint)
		}
	}
	p.span = sp
	p.seq = o.nextSeq()
	p.fired, p.at = o.stage(sp.End)
	s.panes[sp] = p
	s.ph.push(p, &p.sched)
	o.scheduled(p.at)
	return p
}

func (s *paneStore[K, T, Acc, Out]) addTo(p *pane[K, Acc], k K, r stream.Record[T], out stream.Emitter[Result[K, Out]]) error {
	o := s.o
	var h uint64
	if p.indexed() {
		if !p.fired && !o.triggers {
			// Nothing fires: the record may wait, and a batch of them finds
			// its keys with the index lookups overlapped.
			s.pending = append(s.pending, pendingAdd[K, T, Acc]{p: p, k: k, r: r})
			if len(s.pending) == maxPending {
				s.addPending()
			}
			return nil
		}
		h = s.hash.of(k)
	}
	i, pos := p.find(k, h)
	if i < 0 {
		i = p.insert(k, h, pos, o.newAcc(), &s.hash)
	}
	c := &p.slots[i].cell
	s.fold(c, r)
	if !p.fired && !o.triggers {
		return nil
	}
	if o.cfg.countN > 0 {
		c.count++
	}
	dirty, err := o.after(c, k, p.span, out)
	if dirty {
		s.dirty = append(s.dirty, paneRef[K, Acc]{p: p, gen: p.gen, i: i})
	}
	return err
}

// fold adds r to c's accumulator.
func (s *paneStore[K, T, Acc, Out]) fold(c *cell[Acc], r stream.Record[T]) {
	o := s.o
	switch {
	case o.counting:
		*(*int64)(unsafe.Pointer(&c.acc))++
	case o.agg != nil:
		c.acc = o.agg.Add(c.acc, r.Value)
	default:
		c.acc = o.addRec(c.acc, r)
	}
}

// A record for a large pane that fires nothing when it arrives (the pane
// has not fired, and no trigger counts records) changes nothing anyone can
// see until the pane fires or is checkpointed. Such records wait in
// pending, up to maxPending of them, and are added together: first every
// key's hash and a load of its index entry, which the CPU overlaps, then
// the lookups, which then find the entries in the cache. A lookup in an
// index larger than the cache costs a memory access; one at a time, the
// work between two records keeps the next one from starting early.
// Everything that reads or fires panes (advance, fireDirty, snapshot)
// adds the pending records first; per pane they are added in arrival
// order, so Process windows see their records in order.

// maxPending is the number of records that wait at most.
const maxPending = 64

// pendingAdd is a record waiting to be added to pane p under key k (h is
// k's hash, set when the batch is added).
type pendingAdd[K comparable, T, Acc any] struct {
	p *pane[K, Acc]
	k K
	h uint64
	r stream.Record[T]
}

// addPending adds the pending records to their panes.
func (s *paneStore[K, T, Acc, Out]) addPending() {
	ps := s.pending
	if len(ps) == 0 {
		return
	}
	var touch int32
	for i := range ps {
		a := &ps[i]
		a.h = s.hash.of(a.k)
		touch += a.p.index.ents[a.p.index.home(a.h)].slot
	}
	s.touched += touch // keeps the loads
	o := s.o
	for i := range ps {
		a := &ps[i]
		p := a.p
		j, pos := p.find(a.k, a.h)
		if j < 0 {
			j = p.insert(a.k, a.h, pos, o.newAcc(), &s.hash)
		}
		s.fold(&p.slots[j].cell, a.r)
	}
	clear(ps) // let the records' values be collected
	s.pending = ps[:0]
}

func (s *paneStore[K, T, Acc, Out]) advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	s.addPending()
	o := s.o
	for {
		p, ok := s.ph.peek()
		if !ok || p.at > w {
			return nil
		}
		if !p.fired {
			p.fired = true
			for i := range p.slots {
				sl := &p.slots[i]
				if err := o.onTime(&sl.cell, sl.key, p.span, out); err != nil {
					return err
				}
			}
			if ca := closeAt(p.span.End, o.cfg.lateness); ca > w {
				p.at = ca
				s.ph.fix(p.idx)
				continue
			}
		}
		s.retire(p)
	}
}

// retire drops a closed pane and keeps it, emptied, for reuse: at most as
// many as there are open panes (at least one), so a burst of windows does
// not pin memory.
func (s *paneStore[K, T, Acc, Out]) retire(p *pane[K, Acc]) {
	s.ph.remove(p.idx)
	delete(s.panes, p.span)
	if s.last == p {
		s.last = nil
	}
	s.slotOK = false
	s.keyHint = len(p.slots)
	p.gen++
	if len(s.free) >= max(1, len(s.ph.items)) {
		p.slots, p.index = nil, keyIndex{}
		return
	}
	clear(p.slots) // let the keys and accumulators be collected
	p.slots = p.slots[:0]
	p.index.reset()
	s.free = append(s.free, p)
}

func (s *paneStore[K, T, Acc, Out]) fireDirty(out stream.Emitter[Result[K, Out]]) error {
	s.addPending()
	refs := s.dirty
	s.dirty = nil
	defer func() {
		clear(refs)
		if s.dirty == nil {
			s.dirty = refs[:0]
		}
	}()
	for _, r := range refs {
		if r.p.gen != r.gen || r.p.idx < 0 || r.p.fired {
			continue
		}
		if sl := &r.p.slots[r.i]; sl.dirty {
			if err := s.o.fire(&sl.cell, sl.key, r.p.span, Early, out); err != nil {
				return err
			}
		}
	}
	return nil
}
