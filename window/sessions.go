package window

import (
	"slices"

	"github.com/brook-streams/brook/stream"
)

// Session windows are per key and merge: the store keeps each key's open
// sessions sorted by start, and one heap of all sessions by due time.

// session is one session window of one key.
type session[K comparable, Acc any] struct {
	cell[Acc]
	sched // at <= due, moved up lazily as the session grows; idx -1 once closed or merged away
	key   K
	span  Span
	due   stream.Time // End-1 until it fires, then End-1+lateness
	fired bool
}

// sessionStore holds the session windows of an operator instance.
type sessionStore[K comparable, T, Acc, Out any] struct {
	o        *op[K, T, Acc, Out]
	sessions map[K][]*session[K, Acc] // per key, sorted by start; neither overlapping nor touching
	sh       dueHeap[*session[K, Acc]]
	dirty    []*session[K, Acc]
}

func newSessionStore[K comparable, T, Acc, Out any](o *op[K, T, Acc, Out]) *sessionStore[K, T, Acc, Out] {
	return &sessionStore[K, T, Acc, Out]{o: o}
}

func (s *sessionStore[K, T, Acc, Out]) reset() {
	*s = sessionStore[K, T, Acc, Out]{o: s.o, sessions: map[K][]*session[K, Acc]{}}
}

func (s *sessionStore[K, T, Acc, Out]) due() (stream.Time, bool) {
	return s.sh.top(), len(s.sh.items) > 0
}

func (s *sessionStore[K, T, Acc, Out]) hasDirty() bool { return len(s.dirty) > 0 }

func (s *sessionStore[K, T, Acc, Out]) setStage(x *session[K, Acc]) {
	x.fired, x.due = s.o.stage(x.span.End)
}

func (s *sessionStore[K, T, Acc, Out]) add(r stream.Record[T], t stream.Time, out stream.Emitter[Result[K, Out]]) error {
	o := s.o
	k := o.key(r.Value)
	sp := Span{Start: t, End: addSat(t, o.a.gap)}
	ws := s.sessions[k]
	lo := 0
	for lo < len(ws) && ws[lo].span.End < sp.Start {
		lo++
	}
	hi := lo
	for hi < len(ws) && ws[hi].span.Start <= sp.End {
		hi++
	}
	var x *session[K, Acc]
	if lo == hi {
		if o.closed(sp.End) {
			return o.late(r, []Span{sp})
		}
		x = &session[K, Acc]{key: k, span: sp, cell: cell[Acc]{acc: o.newAcc()}}
		x.seq = o.nextSeq()
		s.setStage(x)
		x.at = x.due
		s.sessions[k] = slices.Insert(ws, lo, x)
		s.sh.push(x, &x.sched)
		o.scheduled(x.due)
	} else {
		// ws[lo:hi] overlap or touch the record's window: merge them into the
		// last one, which has the largest end.
		x = ws[hi-1]
		start := min(ws[lo].span.Start, sp.Start)
		if hi-lo > 1 {
			acc, n, count := ws[lo].acc, ws[lo].n, ws[lo].count
			for i := lo + 1; i < hi; i++ {
				acc = o.merge(acc, ws[i].acc)
				n += ws[i].n
				count += ws[i].count
			}
			for i := lo; i < hi-1; i++ {
				s.sh.remove(ws[i].idx)
			}
			o.refreshDue()
			x.acc, x.n, x.count = acc, n, count
			s.sessions[k] = slices.Delete(ws, lo, hi-1)
		}
		x.span.Start = start
		if sp.End > x.span.End {
			x.span.End = sp.End
			s.setStage(x)
			if x.due < x.at {
				x.at = x.due
				s.sh.fix(x.idx)
				o.refreshDue()
			}
			// Otherwise the heap entry stays at the earlier time and moves
			// when it comes up: one heap operation per watermark passing,
			// not per record extending the session.
		}
	}
	x.acc = o.add(x.acc, r)
	if o.cfg.countN > 0 {
		x.count++
	}
	dirty, err := o.after(&x.cell, k, x.span, out)
	if dirty {
		s.dirty = append(s.dirty, x)
	}
	return err
}

func (s *sessionStore[K, T, Acc, Out]) advance(w stream.Time, out stream.Emitter[Result[K, Out]]) error {
	o := s.o
	for {
		x, ok := s.sh.peek()
		if !ok || x.at > w {
			return nil
		}
		if x.due > x.at {
			x.at = x.due
			s.sh.fix(x.idx)
			continue
		}
		if !x.fired {
			x.fired = true
			if err := o.onTime(&x.cell, x.key, x.span, out); err != nil {
				return err
			}
			if ca := closeAt(x.span.End, o.cfg.lateness); ca > w {
				x.due, x.at = ca, ca
				s.sh.fix(x.idx)
				continue
			}
		}
		s.sh.remove(x.idx)
		ws := s.sessions[x.key]
		if i := slices.Index(ws, x); i >= 0 {
			ws = slices.Delete(ws, i, i+1)
		}
		if len(ws) == 0 {
			delete(s.sessions, x.key)
		} else {
			s.sessions[x.key] = ws
		}
	}
}

func (s *sessionStore[K, T, Acc, Out]) fireDirty(out stream.Emitter[Result[K, Out]]) error {
	refs := s.dirty
	s.dirty = nil
	defer func() {
		clear(refs)
		if s.dirty == nil {
			s.dirty = refs[:0]
		}
	}()
	for _, x := range refs {
		if x.idx >= 0 && !x.fired && x.dirty {
			if err := s.o.fire(&x.cell, x.key, x.span, Early, out); err != nil {
				return err
			}
		}
	}
	return nil
}
