package window

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"fmt"
	"reflect"
	"slices"

	"github.com/brook-streams/brook/stream"
)

// The operator's checkpoint is its open windows, gob-encoded: keys and
// accumulators must be encodable with encoding/gob (exported fields, or a
// BinaryMarshaler such as the sketch types). Raw records of Process windows
// are encoded with their values.

const snapVersion = 2

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

func encodeSnap[K comparable, Acc any](st *snapState[K, Acc]) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return nil, fmt.Errorf("window: encoding the state (keys and accumulators must be gob-encodable): %w", err)
	}
	return buf.Bytes(), nil
}

func (o *op[K, T, Acc, Out]) decodeSnap(b []byte) (*snapState[K, Acc], error) {
	var st snapState[K, Acc]
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: window state: %w", stream.ErrCorruptCheckpoint, err)
	}
	if st.Version != snapVersion {
		return nil, fmt.Errorf("%w: window state version %d", stream.ErrCorruptCheckpoint, st.Version)
	}
	if st.Assigner != o.a.String() {
		return nil, fmt.Errorf("%w: checkpoint of %s windows restored into %s windows", stream.ErrInvalid, st.Assigner, o.a)
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
			p.at = span.End - 1
			s.panes[span] = p
			s.ph.push(p, &p.sched)
		}
		if sp.Fired && !p.fired {
			p.fired = true
			p.at = closeAt(span.End, o.cfg.lateness)
			s.ph.fix(p.idx)
		}
		for _, sc := range sp.Cells {
			i := p.insert(sc.Key, sc.Acc)
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
			if p.index != nil {
				for i := range p.slots {
					p.index[p.slots[i].key] = int32(i)
				}
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
		x := &session[K, Acc]{key: ss.Cell.Key, span: Span{Start: ss.Start, End: ss.End}, fired: ss.Fired}
		x.seq = ss.Seq
		x.cell = o.cellOf(ss.Cell)
		x.due = x.span.End - 1
		if x.fired {
			x.due = closeAt(x.span.End, o.cfg.lateness)
		}
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

// isNil reports whether an accumulator decoded as a nil pointer, map or
// slice: gob does not transmit zero values, so an empty accumulator that
// New made non-nil comes back nil, and New makes it again.
func isNil[Acc any](acc Acc) bool {
	v := reflect.ValueOf(&acc).Elem()
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}
