package stream

// timerQueue holds the timers of one time domain of a keyed operator
// instance: a set per key group, deduplicating (key, time), and a min-heap
// by (time, registration) over all of them. A deleted timer leaves its heap
// entry behind, skipped when it comes up (the set no longer has it); the
// heap is rebuilt when such entries outnumber the live ones.
type timerQueue[K comparable] struct {
	heap []timerEntryK[K]
	sets []map[timerID[K]]struct{} // by key group
	// recent is, by key group, the two timers last registered there while
	// they are still in the set: a key registering the same timer for each
	// of its records (a window's end, say) finds it without a set lookup.
	recent [][2]recentTimer[K]
	live   int
	seq    uint64
	// top is the time of the heap's first entry (deleted or not), MaxTime
	// when the heap is empty: no timer is due before it.
	top Time
}

type recentTimer[K comparable] struct {
	id timerID[K]
	ok bool
}

type timerID[K comparable] struct {
	key K
	at  Time
}

type timerEntryK[K comparable] struct {
	at  Time
	seq uint64
	key K
	g   int32
}

func (e *timerEntryK[K]) less(o *timerEntryK[K]) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

func newTimerQueue[K comparable](maxPar int) timerQueue[K] {
	return timerQueue[K]{sets: make([]map[timerID[K]]struct{}, maxPar), recent: make([][2]recentTimer[K], maxPar), top: MaxTime}
}

// forget drops id from group g's recent timer: it left the set.
func (q *timerQueue[K]) forget(g int, id timerID[K]) {
	for i := range q.recent[g] {
		if r := &q.recent[g][i]; r.ok && r.id == id {
			r.ok = false
		}
	}
}

// add registers a timer of key k (of group g) at at; false if it was there.
func (q *timerQueue[K]) add(g int, k K, at Time) bool {
	set := q.sets[g]
	if set == nil {
		set = map[timerID[K]]struct{}{}
		q.sets[g] = set
	}
	id := timerID[K]{key: k, at: at}
	r := &q.recent[g]
	if (r[0].ok && r[0].id == id) || (r[1].ok && r[1].id == id) {
		return false
	}
	r[1], r[0] = r[0], recentTimer[K]{id: id, ok: true}
	if _, ok := set[id]; ok {
		return false
	}
	set[id] = struct{}{}
	q.live++
	q.seq++
	q.push(timerEntryK[K]{at: at, seq: q.seq, key: k, g: int32(g)})
	return true
}

// remove deletes the timer of key k at at, if there is one.
func (q *timerQueue[K]) remove(g int, k K, at Time) {
	set := q.sets[g]
	id := timerID[K]{key: k, at: at}
	if _, ok := set[id]; !ok {
		return
	}
	delete(set, id)
	q.forget(g, id)
	q.live--
	if len(q.heap) > 64 && len(q.heap) > 4*q.live {
		q.compact()
	}
}

// peek returns the earliest live timer's time; ok is false if there is none.
func (q *timerQueue[K]) peek() (Time, bool) {
	for len(q.heap) > 0 {
		e := &q.heap[0]
		if _, ok := q.sets[e.g][timerID[K]{key: e.key, at: e.at}]; ok {
			return e.at, true
		}
		q.pop()
	}
	return 0, false
}

// popDue removes and returns the earliest live timer if it is at or before
// t.
func (q *timerQueue[K]) popDue(t Time) (timerEntryK[K], bool) {
	if len(q.heap) == 0 || q.heap[0].at > t {
		// Nothing due, stale entries or not: no set lookup (the common
		// case of a watermark that fires nothing).
		return timerEntryK[K]{}, false
	}
	at, ok := q.peek()
	if !ok || at > t {
		return timerEntryK[K]{}, false
	}
	e := q.pop()
	id := timerID[K]{key: e.key, at: e.at}
	delete(q.sets[e.g], id)
	q.forget(int(e.g), id)
	q.live--
	return e, true
}

func (q *timerQueue[K]) push(e timerEntryK[K]) {
	q.heap = append(q.heap, e)
	h := q.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	q.top = h[0].at
}

func (q *timerQueue[K]) pop() timerEntryK[K] {
	h := q.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	var zero timerEntryK[K]
	h[n] = zero
	q.heap = h[:n]
	q.down(0)
	q.setTop()
	return top
}

func (q *timerQueue[K]) setTop() {
	q.top = MaxTime
	if len(q.heap) > 0 {
		q.top = q.heap[0].at
	}
}

func (q *timerQueue[K]) down(i int) {
	h := q.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].less(&h[l]) {
			m = r
		}
		if !h[m].less(&h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// compact drops the heap entries of deleted timers (and the duplicates a
// deleted and re-registered timer leaves).
func (q *timerQueue[K]) compact() {
	seen := make(map[timerID[K]]struct{}, q.live)
	k := 0
	for _, e := range q.heap {
		id := timerID[K]{key: e.key, at: e.at}
		if _, ok := q.sets[e.g][id]; !ok {
			continue
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		q.heap[k] = e
		k++
	}
	clear(q.heap[k:])
	q.heap = q.heap[:k]
	for i := k/2 - 1; i >= 0; i-- {
		q.down(i)
	}
	q.setTop()
}
