package redis

import (
	"sync"
	"time"
)

// lru is a bounded least-recently-used cache whose entries expire ttl after
// they were stored. It caches misses too (found = false). It is safe for
// concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	items map[K]*entry[K, V]
	head  entry[K, V] // sentinel: head.next is the most recently used
}

type entry[K comparable, V any] struct {
	key        K
	val        V
	found      bool
	expires    time.Time
	prev, next *entry[K, V]
}

func newLRU[K comparable, V any](size int, ttl time.Duration) *lru[K, V] {
	c := &lru[K, V]{size: size, ttl: ttl, items: make(map[K]*entry[K, V], size)}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func (c *lru[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *lru[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// get returns the cached row of k, whether the key exists, and whether the
// cache knew (ok): an entry at or past its expiry is removed and not known.
func (c *lru[K, V]) get(k K, now time.Time) (v V, found, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.items[k]
	if e == nil {
		return v, false, false
	}
	if !now.Before(e.expires) {
		c.unlink(e)
		delete(c.items, k)
		return v, false, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.val, e.found, true
}

// put stores the row of k (or its absence), evicting the least recently
// used entry when the cache is full.
func (c *lru[K, V]) put(k K, v V, found bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		e.val, e.found, e.expires = v, found, now.Add(c.ttl)
		c.unlink(e)
		c.pushFront(e)
		return
	}
	var e *entry[K, V]
	if len(c.items) >= c.size {
		e = c.head.prev // the least recently used: reuse it
		c.unlink(e)
		delete(c.items, e.key)
	} else {
		e = &entry[K, V]{}
	}
	e.key, e.val, e.found, e.expires = k, v, found, now.Add(c.ttl)
	c.items[k] = e
	c.pushFront(e)
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
