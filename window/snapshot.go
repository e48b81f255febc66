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

func snapOf[K comparable, Acc any](c *cell[Acc], key K) snapCell[K, Acc] {
	return snapCell[K, Acc]{Key: key, Acc: c.acc, N: int(c.n), Count: c.count, Dirty: c.dirty}
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

// Snapshot encodes the open windows: per key, their accumulators (or
// records) and trigger state, and the watermark.
func (o *op[K, T, Acc, Out]) Snapshot() ([]byte, error) {
	st := snapState[K, Acc]{Version: snapVersion, Assigner: o.a.String(), WM: o.wm, Seq: o.seq}
	o.st.snapshot(&st, nil)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&st); err != nil {
		return nil, fmt.Errorf("window: encoding the state (keys and accumulators must be gob-encodable): %w", err)
	}
	return buf.Bytes(), nil
}

// Restore replaces the state with one produced by Snapshot.
func (o *op[K, T, Acc, Out]) Restore(b []byte) error {
	var st snapState[K, Acc]
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("%w: window state: %w", stream.ErrCorruptCheckpoint, err)
	}
	if st.Version != snapVersion {
		return fmt.Errorf("%w: window state version %d", stream.ErrCorruptCheckpoint, st.Version)
	}
	if st.Assigner != o.a.String() {
		return fmt.Errorf("%w: checkpoint of %s windows restored into %s windows", stream.ErrInvalid, st.Assigner, o.a)
	}
	o.init()
	o.wm, o.seq = st.WM, st.Seq
	o.st.restore(&st)
	o.refreshDue()
	o.rearm()
	return nil
}

func (s *paneStore[K, T, Acc, Out]) snapshot(st *snapState[K, Acc], keep func(K) bool) {
	for _, it := range s.ph.items {
		p := it.e
		sp := snapPane[K, Acc]{Start: p.span.Start, End: p.span.End, Seq: p.seq, Fired: p.fired}
		for i := range p.slots {
			if keep == nil || keep(p.slots[i].key) {
				sp.Cells = append(sp.Cells, snapOf(&p.slots[i].cell, p.slots[i].key))
			}
		}
		if len(sp.Cells) > 0 || keep == nil {
			st.Panes = append(st.Panes, sp)
		}
	}
}

func (s *paneStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	o := s.o
	for _, sp := range st.Panes {
		span := Span{Start: sp.Start, End: sp.End}
		p := s.panes[span]
		if p == nil {
			p = &pane[K, Acc]{span: span, fired: sp.Fired}
			p.seq = sp.Seq
			p.at = span.End - 1
			if p.fired {
				p.at = closeAt(span.End, o.cfg.lateness)
			}
			s.panes[span] = p
			s.ph.push(p, &p.sched)
		}
		for _, sc := range sp.Cells {
			i := p.insert(sc.Key, sc.Acc)
			p.slots[i].cell = o.cellOf(sc)
			if sc.Dirty {
				s.dirty = append(s.dirty, paneRef[K, Acc]{p: p, gen: p.gen, i: i})
			}
		}
	}
}

func (s *sessionStore[K, T, Acc, Out]) snapshot(st *snapState[K, Acc], keep func(K) bool) {
	for _, it := range s.sh.items {
		x := it.e
		if keep == nil || keep(x.key) {
			st.Sessions = append(st.Sessions, snapSession[K, Acc]{Start: x.span.Start, End: x.span.End, Seq: x.seq, Fired: x.fired, Cell: snapOf(&x.cell, x.key)})
		}
	}
}

func (s *sessionStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	o := s.o
	touched := map[K]bool{}
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
		touched[x.key] = true
		s.sh.push(x, &x.sched)
		if x.dirty {
			s.dirty = append(s.dirty, x)
		}
	}
	for k := range touched {
		slices.SortFunc(s.sessions[k], func(a, b *session[K, Acc]) int { return cmp.Compare(a.span.Start, b.span.Start) })
	}
}

func (s *globalStore[K, T, Acc, Out]) snapshot(st *snapState[K, Acc], keep func(K) bool) {
	for _, g := range s.order {
		if keep == nil || keep(g.key) {
			st.Globals = append(st.Globals, snapOf(&g.cell, g.key))
		}
	}
}

func (s *globalStore[K, T, Acc, Out]) restore(st *snapState[K, Acc]) {
	for _, sc := range st.Globals {
		g := &global[K, Acc]{key: sc.Key, cell: s.o.cellOf(sc)}
		s.globals[g.key] = g
		s.order = append(s.order, g)
		if g.dirty {
			s.dirty = append(s.dirty, g)
		}
	}
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
