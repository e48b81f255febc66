package window

import "github.com/brook-streams/brook/stream"

// scheduled is an item of a dueHeap: it is due at a watermark, ties broken
// by a sequence number so firing order is deterministic, and it knows its
// index in the heap so it can be moved or removed in O(log n).
type scheduled interface {
	dueKey() (stream.Time, uint64)
	setIndex(i int)
}

// dueHeap is a min-heap of windows by due watermark: a watermark costs
// O(fired × log n) and a look at the top, never a scan of the open windows.
type dueHeap[E scheduled] struct{ items []E }

func (h *dueHeap[E]) len() int { return len(h.items) }

func (h *dueHeap[E]) peek() (E, bool) {
	if len(h.items) == 0 {
		var zero E
		return zero, false
	}
	return h.items[0], true
}

func (h *dueHeap[E]) less(i, j int) bool {
	ti, si := h.items[i].dueKey()
	tj, sj := h.items[j].dueKey()
	return ti < tj || ti == tj && si < sj
}

func (h *dueHeap[E]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].setIndex(i)
	h.items[j].setIndex(j)
}

func (h *dueHeap[E]) push(e E) {
	h.items = append(h.items, e)
	e.setIndex(len(h.items) - 1)
	h.up(len(h.items) - 1)
}

// remove takes the item at index i out of the heap and returns it.
func (h *dueHeap[E]) remove(i int) E {
	n := len(h.items) - 1
	if i != n {
		h.swap(i, n)
	}
	e := h.items[n]
	var zero E
	h.items[n] = zero
	h.items = h.items[:n]
	if i != n {
		h.fix(i)
	}
	e.setIndex(-1)
	return e
}

// fix restores the heap order after the item at i changed its due time.
func (h *dueHeap[E]) fix(i int) {
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
