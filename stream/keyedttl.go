package stream

import (
	"fmt"
	"time"
)

// TTL is the time to live of a keyed state's values (see [StateTTL]).
//
// Each [KeyedProcess] callback has a TTL time τ. In event time (the
// default) it is: in Process, the record's time, or the operator's
// watermark if that is later; in OnTimer of an event-time timer, the
// timer's time, or the watermark before the one firing it if that is later
// (a timer registered behind the watermark); in OnTimer of a
// processing-time timer, the watermark. In processing time it is the
// pipeline's clock ([WithClock]), read once per callback.
//
// A write of a key's value at τ (ValueState.Update, MapState.Put,
// ListState.Add and ListState.Update) makes it live at least until τ+After:
// its expiry is τ+After, or the expiry it already had if that is later.
// With OnRead, reading a live value does the same. A value whose expiry is
// at or before a callback's τ is expired: it is never returned (it reads as
// absent, and a write starts a new value rather than adding to it), and it
// is deleted, freeing its memory, when it is read or, in the in-memory
// backend, at the first watermark (in processing time, the first clock
// time) at or after its expiry, whichever comes first. That incremental
// cleanup keeps one entry per key and state in a queue by expiry and visits
// an entry only when it is due: no scan of the keys.
//
// A map or list state expires as a whole: a Put refreshes the key's whole
// map, an Add its whole list. Deleting (Delete, Clear) does not refresh.
//
// Event time makes expiry deterministic: a rerun or a run restored from a
// checkpoint (at any parallelism) sees exactly the same values, since the
// expiries and the operator's watermark are in the checkpoint. Processing
// time bounds the state's age in wall-clock time even when event time
// stalls, at the price of results that depend on when records arrive.
type TTL struct {
	// After is how long a value lives after its last write; it must be
	// positive.
	After time.Duration
	// Domain is the time After counts in: [EventTime] (the default) or
	// [ProcessingTime].
	Domain TimeDomain
	// OnRead makes reads refresh a value's time to live as writes do.
	OnRead bool
}

// StateTTL gives a keyed state a time to live: its values expire ttl.After
// after their last write (see [TTL] for the exact rules). A value of a
// checkpoint written while the state had no TTL counts as written when the
// restored run opens; a checkpoint's expiries are dropped if the state no
// longer has a TTL.
func StateTTL[V any](ttl TTL) StateOption[V] {
	return func(c *stateConfig[V]) {
		if ttl.After <= 0 {
			panic(fmt.Sprintf("stream: StateTTL with After %v (must be positive)", ttl.After))
		}
		if ttl.Domain != EventTime && ttl.Domain != ProcessingTime {
			panic(fmt.Sprintf("stream: StateTTL with time domain %d", ttl.Domain))
		}
		c.ttl = &ttl
	}
}

// ttlState is the TTL bookkeeping of one state column: the expiry of each
// slot's value and, in the in-memory backend, a min-heap of (expiry, slot)
// holding one current entry per slot with a value (queued[slot] is that
// entry's time; MaxTime if none). An entry whose time is not its slot's
// queued time is stale and skipped; an entry that comes due for a value
// refreshed since is pushed again at the value's expiry.
type ttlState struct {
	s      *KeyedStates
	col    stateColumn
	after  time.Duration
	domain TimeDomain
	onRead bool
	exp    []Time // by slot
	queued []Time // by slot
	heap   []ttlEntry
	stale  int     // entries in heap that are not current
	fix    []int32 // slots restored without an expiry, given one at open
}

type ttlEntry struct {
	at   Time
	slot int32
}

func newTTLState(s *KeyedStates, col stateColumn, t *TTL) *ttlState {
	if t == nil {
		return nil
	}
	ts := &ttlState{s: s, col: col, after: t.After, domain: t.Domain, onRead: t.OnRead}
	s.ttls = append(s.ttls, ts)
	return ts
}

func (t *ttlState) grow(n int) {
	t.exp = append(t.exp, make([]Time, n-len(t.exp))...)
	for len(t.queued) < n {
		t.queued = append(t.queued, MaxTime)
	}
}

// expired reports whether slot's value (which the caller knows is there)
// is expired at the current callback's TTL time.
func (t *ttlState) expired(sl int32) bool { return t.s.ttlNow(t.domain) >= t.exp[sl] }

// touch refreshes slot's value, written (or read, with onRead) now; fresh
// says the value was just created, so its old expiry does not count.
func (t *ttlState) touch(sl int32, fresh bool) {
	e := t.s.ttlNow(t.domain).Add(t.after)
	if fresh || e > t.exp[sl] {
		t.exp[sl] = e
	}
	t.s.dirty = true
	t.enqueue(sl)
}

// enqueue makes sure slot has a current heap entry at or before its
// expiry.
func (t *ttlState) enqueue(sl int32) {
	if t.s.single || t.exp[sl] >= t.queued[sl] {
		return
	}
	if t.queued[sl] != MaxTime {
		t.stale++
	}
	t.queued[sl] = t.exp[sl]
	t.push(ttlEntry{at: t.exp[sl], slot: sl})
	if t.domain == ProcessingTime {
		t.s.procTTL = true
	}
	if t.stale > 64 && t.stale > len(t.heap)/2 {
		t.compact()
	}
}

// restored sets the expiry of a value decoded from a checkpoint; ok false
// means the checkpoint had none for it.
func (t *ttlState) restored(sl int32, exp Time, ok bool) {
	if !ok && t.s.single {
		// A store backend restores when the run opens, its TTL time set.
		if now := t.s.ttlNow(t.domain); now != MinTime {
			exp = now.Add(t.after)
		} else {
			exp = MaxTime
		}
		ok = true
	}
	if !ok {
		t.fix = append(t.fix, sl)
		exp = MaxTime
	}
	t.exp[sl] = exp
	t.enqueue(sl)
}

// open gives the values restored without an expiry one, counting from now.
func (t *ttlState) open(now Time) {
	for _, sl := range t.fix {
		if t.col.has(sl) && t.exp[sl] == MaxTime {
			t.exp[sl] = now.Add(t.after)
			t.enqueue(sl)
		}
	}
	t.fix = nil
}

// head returns the time of the earliest heap entry.
func (t *ttlState) head() (Time, bool) {
	if len(t.heap) == 0 {
		return 0, false
	}
	return t.heap[0].at, true
}

// cleanup deletes the values expired at now whose entries are due.
func (t *ttlState) cleanup(now Time) {
	for len(t.heap) > 0 && t.heap[0].at <= now {
		e := t.pop()
		if t.queued[e.slot] != e.at {
			t.stale--
			continue
		}
		t.queued[e.slot] = MaxTime
		if !t.col.has(e.slot) {
			continue
		}
		if t.exp[e.slot] <= now {
			t.col.drop(e.slot)
			continue
		}
		t.enqueue(e.slot) // refreshed since it was queued
	}
}

func (t *ttlState) push(e ttlEntry) {
	t.heap = append(t.heap, e)
	h := t.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (t *ttlState) pop() ttlEntry {
	h := t.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	t.heap = h[:n]
	t.down(0)
	return top
}

func (t *ttlState) down(i int) {
	h := t.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// compact drops the stale entries (keeping one of two current-looking
// entries of a slot: a stale one can have the time the slot was queued at
// again).
func (t *ttlState) compact() {
	seen := make(map[int32]struct{}, len(t.heap)-t.stale)
	k := 0
	for _, e := range t.heap {
		if t.queued[e.slot] != e.at {
			continue
		}
		if _, dup := seen[e.slot]; dup {
			continue
		}
		seen[e.slot] = struct{}{}
		t.heap[k] = e
		k++
	}
	t.heap = t.heap[:k]
	t.stale = 0
	for i := k/2 - 1; i >= 0; i-- {
		t.down(i)
	}
}
