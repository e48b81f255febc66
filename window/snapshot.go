package window

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// The operator's checkpoint is its open windows in the library's state
// codec ([codec.Encoder]): the framing (version, assigner, watermark, counts,
// times, flags) is written field by field, keys and accumulators through
// [codec.For] — compact for basic types and BinaryMarshalers (such as the
// sketch types), encoding/gob only for types that give no codec. Raw records
// of Process windows are encoded with their values.

const snapVersion = 3

type snapCell[K comparable, Acc any] struct {
	Key   K
	Acc   Acc
	N     int
	Count int
	Dirty bool
	Ord   int // the cell's place among its window's (global: its store's) cells, kept across a restore
}

type snapPane[K comparable, Acc any] struct {
	Start, End stream.Time
	Seq        uint64
	Fired      bool
	Cells      []snapCell[K, Acc]
}

type snapSession[K comparable, Acc any] struct {
	Start, End stream.Time
	Seq        uint64
	Fired      bool
	Cell       snapCell[K, Acc]
}

type snapState[K comparable, Acc any] struct {
	Version  int
	Assigner string
	WM       stream.Time
	Seq      uint64
	Panes    []snapPane[K, Acc]
	Sessions []snapSession[K, Acc]
	Globals  []snapCell[K, Acc]
}

func snapOf[K comparable, Acc any](c *cell[Acc], key K, ord int) snapCell[K, Acc] {
	return snapCell[K, Acc]{Key: key, Acc: c.acc, N: int(c.n), Count: c.count, Dirty: c.dirty, Ord: ord}
}

// cellOf restores a cell; an accumulator that decoded as nil is made again
// (see isNil).
func (o *op[K, T, Acc, Out]) cellOf(sc snapCell[K, Acc]) cell[Acc] {
	c := cell[Acc]{acc: sc.Acc, n: int32(sc.N), count: sc.Count, dirty: sc.Dirty}
	if o.newAcc != nil && isNil(c.acc) {
		c.acc = o.newAcc()
	}
	return c
}

// The operator keeps its windows in one store for all its keys, and splits
// them by key group when a checkpoint asks: the runtime calls
// SnapshotKeyGroup for each of the instance's groups in increasing order, so
// the first call of a checkpoint encodes every group in one pass over the
// windows and the others hand out what it made. A restore (at any
// parallelism) adds the groups the instance owns one by one, merging panes
// that several groups share.

// newSnap returns an empty state with the operator's header.
func (o *op[K, T, Acc, Out]) newSnap() *snapState[K, Acc] {
	return &snapState[K, Acc]{Version: snapVersion, Assigner: o.a.String(), WM: o.wm, Seq: o.seq}
}

// encodeSnap writes st. An accumulator that is a nil pointer, map or slice
// is written as absent (a restore makes it again with New, see cellOf); a
// key or accumulator the codec cannot encode (a gob fallback of a type with
// no exported fields) fails the snapshot.
func encodeSnap[K comparable, Acc any](st *snapState[K, Acc]) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("window: encoding the state (keys and accumulators need a codec: a basic type, a BinaryMarshaler, or a gob-encodable type): %v", r)
		}
	}()
	kc, ac := codec.For[K](), codec.For[Acc]()
	e := codec.NewEncoder(nil)
	cellOut := func(c *snapCell[K, Acc]) {
		kc.Append(e, c.Key)
		if isNil(c.Acc) {
			e.Bool(false)
		} else {
			e.Bool(true)
			ac.Append(e, c.Acc)
		}
		e.Int(int64(c.N))
		e.Int(int64(c.Count))
		e.Bool(c.Dirty)
		e.Uint(uint64(c.Ord))
	}
	e.Byte(snapVersion)
	e.String(st.Assigner)
	e.Int(int64(st.WM))
	e.Uint(st.Seq)
	e.Uint(uint64(len(st.Panes)))
	for i := range st.Panes {
		p := &st.Panes[i]
		e.Int(int64(p.Start))
		e.Int(int64(p.End))
		e.Uint(p.Seq)
		e.Bool(p.Fired)
		e.Uint(uint64(len(p.Cells)))
		for j := range p.Cells {
			cellOut(&p.Cells[j])
		}
	}
	e.Uint(uint64(len(st.Sessions)))
	for i := range st.Sessions {
		x := &st.Sessions[i]
		e.Int(int64(x.Start))
		e.Int(int64(x.End))
		e.Uint(x.Seq)
		e.Bool(x.Fired)
		cellOut(&x.Cell)
	}
	e.Uint(uint64(len(st.Globals)))
	for i := range st.Globals {
		cellOut(&st.Globals[i])
	}
	return e.Data(), nil
}

// maxSnapInt bounds the counters of a decoded cell (its n is an int32).
const maxSnapInt = 1<<31 - 1

// decodeSnap reads a state encodeSnap wrote. Damaged input fails with an
// error wrapping [stream.ErrCorruptCheckpoint]: counts are bounded by the
// bytes left, so it cannot make the restore allocate more than its size.
func (o *op[K, T, Acc, Out]) decodeSnap(b []byte) (*snapState[K, Acc], error) {
	kc, ac := codec.For[K](), codec.For[Acc]()
	d := codec.NewDecoder(b, "window state")
	var st snapState[K, Acc]
	cellIn := func(c *snapCell[K, Acc]) {
		c.Key = kc.Decode(d)
		if d.Bool() {
			c.Acc = ac.Decode(d)
		}
		n, count := d.Int(), d.Int()
		if n < 0 || n > maxSnapInt || count < 0 || count > maxSnapInt {
			d.Fail("cell counts %d, %d out of range", n, count)
		}
		c.N, c.Count = int(n), int(count)
		c.Dirty = d.Bool()
		ord := d.Uint()
		if ord > maxSnapInt {
			d.Fail("cell order %d out of range", ord)
		}
		c.Ord = int(ord)
	}
	span := func() (stream.Time, stream.Time) {
		start, end := stream.Time(d.Int()), stream.Time(d.Int())
		if end < start {
			d.Fail("window [%d, %d) ends before it starts", start, end)
		}
		return start, end
	}
	d.Version(snapVersion)
	if err := d.Err(); err != nil {
		return nil, err
	}
	st.Version = snapVersion
	st.Assigner = d.String()
	st.WM = stream.Time(d.Int())
	st.Seq = d.Uint()
	if d.Err() == nil && st.Assigner != o.a.String() {
		return nil, fmt.Errorf("%w: checkpoint of %s windows restored into %s windows", stream.ErrInvalid, st.Assigner, o.a)
	}
	if n := d.Count(); n > 0 {
		st.Panes = make([]snapPane[K, Acc], n)
		for i := range st.Panes {
			p := &st.Panes[i]
			p.Start, p.End = span()
			p.Seq = d.Uint()
			p.Fired = d.Bool()
			if m := d.Count(); m > 0 {
				p.Cells = make([]snapCell[K, Acc], m)
				for j := range p.Cells {
					cellIn(&p.Cells[j])
				}
			}
			if d.Err() != nil {
				break
			}
		}
	}
	if n := d.Count(); n > 0 {
		st.Sessions = make([]snapSession[K, Acc], n)
		for i := range st.Sessions {
			x := &st.Sessions[i]
			x.Start, x.End = span()
			x.Seq = d.Uint()
			x.Fired = d.Bool()
			cellIn(&x.Cell)
			if d.Err() != nil {
				break
			}
		}
	}
	if n := d.Count(); n > 0 {
		st.Globals = make([]snapCell[K, Acc], n)
		for i := range st.Globals {
			cellIn(&st.Globals[i])
			if d.Err() != nil {
				break
			}
		}
	}
	if err := d.Finish(); err != nil {
		return nil, err // wraps stream.ErrCorruptCheckpoint (codec.ErrCorrupt)
	}
	return &st, nil
}

// SnapshotKeyGroup returns the open windows of the keys of key group g:
// per key, their accumulators (or records) and trigger state, and the
// watermark. It implements [stream.KeyGroupSnapshotter].
func (o *op[K, T, Acc, Out]) SnapshotKeyGroup(g int) ([]byte, error) {
	if o.groupSnaps == nil || g <= o.lastSnapGroup {
		// A new checkpoint: split the state by group in one pass.
		states := map[int]*snapState[K, Acc]{}
		o.st.snapshot(func(k K) *snapState[K, Acc] {
			kg := o.group(k)
			st := states[kg]
			if st == nil {
				st = o.newSnap()
				states[kg] = st
			}
			return st
		})
		o.groupSnaps = make(map[int][]byte, len(states))
		for kg, st := range states {
			b, err := encodeSnap(st)
			if err != nil {
				o.groupSnaps = nil
				return nil, err
			}
			o.groupSnaps[kg] = b
		}
	}
	o.lastSnapGroup = g
	b := o.groupSnaps[g]
	delete(o.groupSnaps, g)
	return b, nil
}

// RestoreKeyGroup adds the windows of key group g from a checkpoint, before
// the operator opens. It implements [stream.KeyGroupSnapshotter]. The
// groups of an instance may come from several instances of the run that
// wrote the checkpoint; a pane that any of them had fired counts as fired.
func (o *op[K, T, Acc, Out]) RestoreKeyGroup(_ int, b []byte) error {
	st, err := o.decodeSnap(b)
	if err != nil {
		return err
	}
	if !o.restoring {
		o.init()
		o.restoring = true
		o.wm, o.seq = st.WM, st.Seq
	} else {
		o.wm, o.seq = min(o.wm, st.WM), max(o.seq, st.Seq)
	}
	o.st.restore(st)
	return nil
}

// restoredWatermark takes the input watermark the runtime restored for the
// instance (the smallest of the instances that wrote the checkpoint; MinTime
// on a fresh start): an instance whose key groups held no windows restores
// none, and must still know which windows are closed. Processing-time
// windows follow the clock instead.
func (o *op[K, T, Acc, Out]) restoredWatermark(w stream.Time) {
	if !o.a.proc && w != stream.MinTime {
		o.wm = w
	}
}

// restored finishes a restore: the order of the merged groups' keys, and
// the due times.
func (o *op[K, T, Acc, Out]) restored() {
	if o.restoring {
		o.restoring = false
		o.st.finishRestore()
		o.refreshDue()
	}
}

func (s *paneStore[K, T, Acc, Out]) snapshot(to func(K) *snapState[K, Acc]) {
	s.addPending()
	for _, it := range s.ph.items {
		p := it.e
		for i := range p.slots {
			sl := &p.slots[i]
			st := to(sl.key)
			if n := len(st.Panes); n == 0 || st.Panes[n-1].Start != p.span.Start || st.Panes[n-1].End != p.span.End {
				st.Panes = append(st.Panes, snapPane[K, Acc]{Start: p.span.Start, End: p.span.End, Seq: p.seq, Fired: p.fired})
			}
			sp := &st.Panes[len(st.Panes)-1]
			sp.Cells = append(sp.Cells, snapOf(&sl.cell, sl.key, i))
		}
	}
}

func (s *paneStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	o := s.o
	if s.ords == nil {
		s.ords = map[*pane[K, Acc]][]int{}
	}
	for _, sp := range st.Panes {
		span := Span{Start: sp.Start, End: sp.End}
		p := s.panes[span]
		if p == nil {
			p = &pane[K, Acc]{span: span}
			p.seq = sp.Seq
			p.fired, p.at = o.restoredStage(span.End, sp.Fired)
			s.panes[span] = p
			s.ph.push(p, &p.sched)
		}
		if fired, at := o.restoredStage(span.End, sp.Fired); fired && !p.fired {
			p.fired, p.at = true, at
			s.ph.fix(p.idx)
		}
		// Make room for the cells at once: no growing slots and index while
		// a large pane fills.
		if n := len(p.slots) + len(sp.Cells); n > smallPane {
			p.slots = slices.Grow(p.slots, len(sp.Cells))
			p.reindex(&s.hash, n)
		}
		for _, sc := range sp.Cells {
			var h uint64
			if p.indexed() {
				h = s.hash.of(sc.Key)
			}
			i := p.insert(sc.Key, h, -1, sc.Acc, &s.hash)
			p.slots[i].cell = o.cellOf(sc)
			s.ords[p] = append(s.ords[p], sc.Ord)
		}
	}
}

// finishRestore puts every restored pane's keys back in the order they had
// (by their place in the panes that wrote them: a restore at the same
// parallelism keeps the order exactly) and collects the cells waiting for
// an early firing.
func (s *paneStore[K, T, Acc, Out]) finishRestore() {
	for _, it := range s.ph.items {
		p := it.e
		if ords := s.ords[p]; !slices.IsSorted(ords) {
			idx := make([]int, len(ords))
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ords[a], ords[b]) })
			sorted := make([]slot[K, Acc], len(p.slots))
			for i, j := range idx {
				sorted[i] = p.slots[j]
			}
			p.slots = sorted
			if p.indexed() {
				p.reindex(&s.hash, len(p.slots))
			}
		}
		for i := range p.slots {
			if p.slots[i].dirty {
				s.dirty = append(s.dirty, paneRef[K, Acc]{p: p, gen: p.gen, i: int32(i)})
			}
		}
	}
	s.ords = nil
}

func (s *sessionStore[K, T, Acc, Out]) snapshot(to func(K) *snapState[K, Acc]) {
	for _, it := range s.sh.items {
		x := it.e
		st := to(x.key)
		st.Sessions = append(st.Sessions, snapSession[K, Acc]{Start: x.span.Start, End: x.span.End, Seq: x.seq, Fired: x.fired, Cell: snapOf(&x.cell, x.key, 0)})
	}
}

func (s *sessionStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	o := s.o
	for _, ss := range st.Sessions {
		x := &session[K, Acc]{key: ss.Cell.Key, span: Span{Start: ss.Start, End: ss.End}}
		x.seq = ss.Seq
		x.cell = o.cellOf(ss.Cell)
		x.fired, x.due = o.restoredStage(x.span.End, ss.Fired)
		x.at = x.due
		s.sessions[x.key] = append(s.sessions[x.key], x)
		s.sh.push(x, &x.sched)
		if x.dirty {
			s.dirty = append(s.dirty, x)
		}
	}
}

// finishRestore sorts each key's sessions by start.
func (s *sessionStore[K, T, Acc, Out]) finishRestore() {
	for _, ws := range s.sessions {
		slices.SortFunc(ws, func(a, b *session[K, Acc]) int { return cmp.Compare(a.span.Start, b.span.Start) })
	}
}

func (s *globalStore[K, T, Acc, Out]) snapshot(to func(K) *snapState[K, Acc]) {
	for i, g := range s.order {
		st := to(g.key)
		st.Globals = append(st.Globals, snapOf(&g.cell, g.key, i))
	}
}

func (s *globalStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	for _, sc := range st.Globals {
		g := &global[K, Acc]{key: sc.Key, cell: s.o.cellOf(sc)}
		s.globals[g.key] = g
		s.order = append(s.order, g)
		s.ords = append(s.ords, sc.Ord)
	}
}

// finishRestore puts the keys back in the order they first appeared in
// (exactly, for a restore at the same parallelism) and collects the windows
// waiting for an early firing.
func (s *globalStore[K, T, Acc, Out]) finishRestore() {
	idx := make([]int, len(s.order))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s.ords[a], s.ords[b]) })
	order := make([]*global[K, Acc], len(idx))
	for i, j := range idx {
		order[i] = s.order[j]
		if order[i].dirty {
			s.dirty = append(s.dirty, order[i])
		}
	}
	s.order, s.ords = order, nil
}

// isNil reports whether an accumulator is a nil pointer, map, slice or
// interface: the snapshot writes it as absent (gob, the codec's fallback,
// cannot encode a nil pointer), and a restore makes it again with New, as it
// does for an accumulator that the fallback decoded as nil (gob does not
// transmit zero values).
func isNil[Acc any](acc Acc) bool {
	v := reflect.ValueOf(&acc).Elem()
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}
