package window

import "github.com/brook-streams/brook/stream"

// sched is a window's place in a dueHeap: the watermark it is due at, a
// sequence number breaking ties so firing order is deterministic, and its
// index in the heap so it can be moved or removed in O(log n).
type sched struct {
	at  stream.Time
	seq uint64
	idx int // -1 when not in the heap
}

// heapItem keeps a copy of its window's due time and sequence number, so
// sifting compares without chasing pointers.
type heapItem[E any] struct {
	at  stream.Time
	seq uint64
	s   *sched
	e   E
}

// dueHeap is a min-heap of windows by due watermark: a watermark costs
// O(fired × log n) and a look at the top, never a scan of the open windows.
type dueHeap[E any] struct{ items []heapItem[E] }

func (h *dueHeap[E]) peek() (E, bool) {
	if len(h.items) == 0 {
		var zero E
		return zero, false
	}
	return h.items[0].e, true
}

// top returns the due time of the first item, or MaxTime if none.
func (h *dueHeap[E]) top() stream.Time {
	if len(h.items) == 0 {
		return stream.MaxTime
	}
	return h.items[0].at
}

func (h *dueHeap[E]) less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (h *dueHeap[E]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].s.idx = i
	h.items[j].s.idx = j
}

func (h *dueHeap[E]) push(e E, s *sched) {
	s.idx = len(h.items)
	h.items = append(h.items, heapItem[E]{at: s.at, seq: s.seq, s: s, e: e})
	h.up(s.idx)
}

// remove takes the item at index i out of the heap.
func (h *dueHeap[E]) remove(i int) {
	n := len(h.items) - 1
	if i != n {
		h.swap(i, n)
	}
	h.items[n].s.idx = -1
	h.items[n] = heapItem[E]{}
	h.items = h.items[:n]
	if i != n {
		h.fix(i)
	}
}

// fix restores the heap order after the item at i changed its due time
// (its sched.at).
func (h *dueHeap[E]) fix(i int) {
	h.items[i].at = h.items[i].s.at
	if !h.down(i) {
		h.up(i)
	}
}

func (h *dueHeap[E]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *dueHeap[E]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
