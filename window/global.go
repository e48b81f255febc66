package window

import "github.com/brook-streams/brook/stream"

// The global window is one window per key spanning all time: it fires by a
// trigger (a count trigger, early firings) and at the end of input.

var globalSpan = Span{Start: stream.MinTime, End: stream.MaxTime}

// globalStore holds the global windows of an operator instance, in the
// order their keys first appeared.
type globalStore[K comparable, T, Acc, Out any] struct {
	o       *op[K, T, Acc, Out]
	globals map[K]*global[K, Acc]
	order   []*global[K, Acc]
	dirty   []*global[K, Acc]
	ords    []int // while restoring: each window's place in the order that wrote it
}

// global is the global window of one key; cell.count counts its records
// since it last fired on time.
type global[K comparable, Acc any] struct {
	cell[Acc]
	key K
}

func newGlobalStore[K comparable, T, Acc, Out any](o *op[K, T, Acc, Out]) *globalStore[K, T, Acc, Out] {
	return &globalStore[K, T, Acc, Out]{o: o}
}

func (s *globalStore[K, T, Acc, Out]) reset() {
	*s = globalStore[K, T, Acc, Out]{o: s.o, globals: map[K]*global[K, Acc]{}}
}

// due is the end of input: the global window's End-1.
func (s *globalStore[K, T, Acc, Out]) due() (stream.Time, bool) { return globalSpan.End - 1, false }

func (s *globalStore[K, T, Acc, Out]) hasDirty() bool { return len(s.dirty) > 0 }

func (s *globalStore[K, T, Acc, Out]) get(k K) *global[K, Acc] {
	g := s.globals[k]
	if g == nil {
		g = &global[K, Acc]{key: k, cell: cell[Acc]{acc: s.o.newAcc()}}
		s.globals[k] = g
		s.order = append(s.order, g)
	}
	return g
}

func (s *globalStore[K, T, Acc, Out]) add(r stream.Record[T], _ stream.Time, out stream.Emitter[Result[K, Out]]) error {
	o := s.o
	g := s.get(o.key(r.Value))
	g.acc = o.add(g.acc, r)
	g.count++
	dirty, err := o.after(&g.cell, g.key, globalSpan, out)
	if dirty {
		s.dirty = append(s.dirty, g)
	}
	return err
}

func (s *globalStore[K, T, Acc, Out]) advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	if w < globalSpan.End-1 {
		return nil
	}
	for _, g := range s.order {
		if g.count == 0 {
			continue
		}
		if err := s.o.purge(&g.cell, g.key, globalSpan, out); err != nil {
			return err
		}
	}
	clear(s.globals)
	s.order = nil
	return nil
}

func (s *globalStore[K, T, Acc, Out]) fireDirty(out stream.Emitter[Result[K, Out]]) error {
	refs := s.dirty
	s.dirty = nil
	defer func() {
		clear(refs)
		if s.dirty == nil {
			s.dirty = refs[:0]
		}
	}()
	for _, g := range refs {
		if g.dirty && g.count > 0 {
			if err := s.o.fire(&g.cell, g.key, globalSpan, Early, out); err != nil {
				return err
			}
		}
	}
	return nil
}
