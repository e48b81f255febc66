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

const snapVersion = 1

type snapCell[K comparable, Acc any] struct {
	Key   K
	Acc   Acc
	N     int
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

type snapGlobal[K comparable, Acc any] struct {
	Cell  snapCell[K, Acc]
	Count int
}

type snapState[K comparable, Acc any] struct {
	Version  int
	Assigner string
	WM       stream.Time
	Seq      uint64
	Panes    []snapPane[K, Acc]
	Sessions []snapSession[K, Acc]
	Globals  []snapGlobal[K, Acc]
}

func snapOf[K comparable, Acc any](c *cell[Acc], key K) snapCell[K, Acc] {
	return snapCell[K, Acc]{Key: key, Acc: c.acc, N: c.n, Dirty: c.dirty}
}

// Snapshot encodes the open windows: per key, their accumulators (or
// records) and trigger state, and the watermark.
func (o *op[K, T, Acc, Out]) Snapshot() ([]byte, error) {
	st := snapState[K, Acc]{Version: snapVersion, Assigner: o.a.String(), WM: o.wm, Seq: o.seq}
	for _, it := range o.ph.items {
		p := it.e
		sp := snapPane[K, Acc]{Start: p.span.Start, End: p.span.End, Seq: p.seq, Fired: p.fired}
		for i := range p.slots {
			sp.Cells = append(sp.Cells, snapOf(&p.slots[i].cell, p.slots[i].key))
		}
		st.Panes = append(st.Panes, sp)
	}
	for _, it := range o.sh.items {
		s := it.e
		st.Sessions = append(st.Sessions, snapSession[K, Acc]{Start: s.span.Start, End: s.span.End, Seq: s.seq, Fired: s.fired, Cell: snapOf(&s.cell, s.key)})
	}
	for _, g := range o.gorder {
		st.Globals = append(st.Globals, snapGlobal[K, Acc]{Cell: snapOf(&g.cell, g.key), Count: g.count})
	}
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
	o.last, o.slotOK, o.gorder, o.dirty = nil, false, nil, nil
	o.ph, o.sh = dueHeap[*pane[K, Acc]]{}, dueHeap[*session[K, Acc]]{}
	o.wm, o.seq = st.WM, st.Seq
	restoreCell := func(c *cell[Acc], sc snapCell[K, Acc]) {
		c.acc, c.n, c.dirty = sc.Acc, sc.N, sc.Dirty
		if o.newAcc != nil && isNil(c.acc) {
			c.acc = o.newAcc()
		}
	}
	for _, sp := range st.Panes {
		p := &pane[K, Acc]{span: Span{Start: sp.Start, End: sp.End}, fired: sp.Fired}
		p.seq = sp.Seq
		p.at = p.span.End - 1
		if p.fired {
			p.at = closeAt(p.span.End, o.cfg.lateness)
		}
		for i, sc := range sp.Cells {
			p.insert(sc.Key, sc.Acc)
			restoreCell(&p.slots[i].cell, sc)
			if sc.Dirty {
				o.dirty = append(o.dirty, dirtyRef[K, Acc]{p: p, i: int32(i)})
			}
		}
		o.panes[p.span] = p
		o.ph.push(p, &p.sched)
	}
	for _, ss := range st.Sessions {
		s := &session[K, Acc]{key: ss.Cell.Key, span: Span{Start: ss.Start, End: ss.End}, fired: ss.Fired}
		s.seq = ss.Seq
		restoreCell(&s.cell, ss.Cell)
		s.due = s.span.End - 1
		if s.fired {
			s.due = closeAt(s.span.End, o.cfg.lateness)
		}
		s.at = s.due
		o.sessions[s.key] = append(o.sessions[s.key], s)
		o.sh.push(s, &s.sched)
		if s.dirty {
			o.dirty = append(o.dirty, dirtyRef[K, Acc]{s: s})
		}
	}
	for _, ws := range o.sessions {
		slices.SortFunc(ws, func(a, b *session[K, Acc]) int { return cmp.Compare(a.span.Start, b.span.Start) })
	}
	for _, sg := range st.Globals {
		g := &global[K, Acc]{key: sg.Cell.Key, count: sg.Count}
		restoreCell(&g.cell, sg.Cell)
		o.globals[g.key] = g
		o.gorder = append(o.gorder, g)
		if g.dirty {
			o.dirty = append(o.dirty, dirtyRef[K, Acc]{g: g})
		}
	}
	o.refreshDue()
	o.rearm()
	return nil
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
