package sketch

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

const (
	// DefaultTopKCapacity is the capacity of a zero-value TopK.
	DefaultTopKCapacity = 1024
	// MaxTopKCapacity bounds the capacity NewTopK and UnmarshalBinary accept.
	MaxTopKCapacity = 1 << 24
)

// Item is one tracked key of a TopK with the bounds on its true count f:
// Count-Err <= f <= Count.
type Item struct {
	Key   string
	Count uint64 // an upper bound of the key's true count
	Err   uint64 // the most Count can overestimate; Count-Err is a lower bound
}

// TopK finds the heavy hitters of a stream of string keys with the
// Space-Saving algorithm (Metwally, Agrawal, El Abbadi 2005), keeping at most
// Capacity counters.
//
// Guarantees, with N the total weight added (over all merged sketches) and
// c the capacity:
//
//   - every tracked key's Count is at least its true count, and exceeds it
//     by at most its Err; Err <= Bound() <= N/c;
//   - a key that is not tracked occurred at most Bound() times, so every key
//     with a true count above N/c is tracked.
//
// Merge follows the mergeable-summaries construction of Agarwal et al.
// (PODS 2012) for Misra-Gries/Space-Saving: counts of a key are added, a key
// absent from one side is charged that side's Bound() (as count and as
// error), and the c largest are kept. Both guarantees above still hold for
// the merged sketch with N = N₁+N₂, and they keep holding under further Add
// and Merge calls (the invariant c·Bound() + Σ(Count-Bound()) <= N is
// preserved by each step).
//
// Add costs O(1): counters live in an array sorted by count with buckets of
// equal counts (the stream-summary structure), so a unit increment swaps one
// counter to the edge of its bucket. AddN with n > 1 may cross several
// buckets. A TopK is not safe for concurrent use; keep one per goroutine and
// Merge them. The zero value is an empty TopK of DefaultTopKCapacity.
type TopK struct {
	capacity int
	n        uint64           // total weight added, merged sketches included
	index    map[string]int32 // key -> slot
	slots    []tkSlot         // counters; a slot never moves
	order    []int32          // slot ids sorted by count, largest first
	buckets  []tkBucket       // runs of equal count in order
	free     []int32          // unused bucket ids
}

type tkSlot struct {
	key    string
	err    uint64
	bucket int32 // id in buckets
	pos    int32 // position in order
}

// tkBucket is a maximal run order[first..last] of counters with one count.
type tkBucket struct {
	count       uint64
	first, last int32
}

// NewTopK returns an empty TopK with the given capacity (number of counters),
// in [1, MaxTopKCapacity]. Larger capacities tighten the N/capacity error
// bound at a cost of about 100 bytes per tracked key.
func NewTopK(capacity int) (*TopK, error) {
	if capacity < 1 || capacity > MaxTopKCapacity {
		return nil, fmt.Errorf("%w: TopK capacity %d outside [1, %d]", ErrInvalidOption, capacity, MaxTopKCapacity)
	}
	return &TopK{capacity: capacity}, nil
}

func (t *TopK) lazyInit() {
	if t.capacity == 0 {
		t.capacity = DefaultTopKCapacity
	}
	if t.index == nil {
		t.index = make(map[string]int32)
	}
}

// Capacity returns the number of counters.
func (t *TopK) Capacity() int {
	if t.capacity == 0 {
		return DefaultTopKCapacity
	}
	return t.capacity
}

// N returns the total weight added, including that of merged sketches.
func (t *TopK) N() uint64 { return t.n }

// Len returns the number of tracked keys (at most Capacity).
func (t *TopK) Len() int { return len(t.order) }

// Bound returns the smallest tracked count once all counters are in use, and
// 0 before. It bounds the error of every tracked key and the true count of
// every untracked key, and is at most N/Capacity.
func (t *TopK) Bound() uint64 {
	if len(t.order) < t.Capacity() {
		return 0
	}
	return t.countAt(int32(len(t.order) - 1))
}

func (t *TopK) countAt(pos int32) uint64 { return t.buckets[t.slots[t.order[pos]].bucket].count }

// Add counts one occurrence of key.
func (t *TopK) Add(key string) { t.AddN(key, 1) }

// AddBytes counts one occurrence of the key string(key). It does not retain
// key and allocates only when key is not already tracked.
func (t *TopK) AddBytes(key []byte) {
	if t.index == nil {
		t.lazyInit()
	}
	t.n++
	if s, ok := t.index[string(key)]; ok {
		t.increment(s, 1)
		return
	}
	t.addNew(string(key), 1)
}

// AddN counts n occurrences of key. n = 0 is a no-op.
func (t *TopK) AddN(key string, n uint64) {
	if n == 0 {
		return
	}
	if t.index == nil {
		t.lazyInit()
	}
	t.n += n
	if s, ok := t.index[key]; ok {
		t.increment(s, n)
		return
	}
	t.addNew(key, n)
}

// addNew tracks a key that is not tracked; t.n already includes n.
func (t *TopK) addNew(key string, n uint64) {
	if len(t.order) < t.capacity {
		s := int32(len(t.slots))
		pos := int32(len(t.order))
		// Park the new counter at the end in a bucket of count 0 (below
		// every real count), then let increment move it up.
		t.slots = append(t.slots, tkSlot{key: key, bucket: t.newBucket(0, pos, pos), pos: pos})
		t.order = append(t.order, s)
		t.index[key] = s
		t.increment(s, n)
		return
	}
	// Space-Saving: the counter with the smallest count takes the new key,
	// which inherits that count as its possible overestimate.
	s := t.order[len(t.order)-1]
	sl := &t.slots[s]
	delete(t.index, sl.key)
	sl.key = key
	sl.err = t.buckets[sl.bucket].count
	t.index[key] = s
	t.increment(s, n)
}

func (t *TopK) newBucket(count uint64, first, last int32) int32 {
	if k := len(t.free); k > 0 {
		b := t.free[k-1]
		t.free = t.free[:k-1]
		t.buckets[b] = tkBucket{count: count, first: first, last: last}
		return b
	}
	t.buckets = append(t.buckets, tkBucket{count: count, first: first, last: last})
	return int32(len(t.buckets) - 1)
}

// swap exchanges the counters at positions i and j of order.
func (t *TopK) swap(i, j int32) {
	si, sj := t.order[i], t.order[j]
	t.order[i], t.order[j] = sj, si
	t.slots[si].pos, t.slots[sj].pos = j, i
}

// increment adds n to the count of slot s and restores the order.
func (t *TopK) increment(s int32, n uint64) {
	sl := &t.slots[s]
	b := sl.bucket
	bk := &t.buckets[b]
	count := bk.count + n
	if count < n {
		count = math.MaxUint64 // saturate rather than wrap
	}
	// Move s to the front of its bucket and detach it.
	f := bk.first
	if sl.pos != f {
		t.swap(sl.pos, f)
	}
	if bk.first == bk.last {
		t.free = append(t.free, b)
	} else {
		bk.first++
	}
	// Walk past buckets whose count is now below s's (never for n = 1, as
	// the bucket before holds a larger count).
	for f > 0 {
		pb := t.slots[t.order[f-1]].bucket
		pbk := &t.buckets[pb]
		if pbk.count >= count {
			break
		}
		nf := pbk.first
		t.swap(f, nf)
		pbk.first++
		pbk.last++
		f = nf
	}
	if f > 0 {
		if pb := t.slots[t.order[f-1]].bucket; t.buckets[pb].count == count {
			t.buckets[pb].last = f
			sl.bucket = pb
			return
		}
	}
	sl.bucket = t.newBucket(count, f, f)
}

// Count returns the bounds tracked for key: its true count f satisfies
// count-err <= f <= count. For an untracked key it returns (Bound(),
// Bound(), false): f <= Bound().
func (t *TopK) Count(key string) (count, err uint64, tracked bool) {
	if s, ok := t.index[key]; ok {
		sl := &t.slots[s]
		return t.buckets[sl.bucket].count, sl.err, true
	}
	b := t.Bound()
	return b, b, false
}

// Top returns the k tracked keys with the largest counts, largest first, ties
// broken by key. k <= 0 or k > Len() returns every tracked key. Keys whose
// true counts differ by less than their Err may be ranked in either order.
func (t *TopK) Top(k int) []Item {
	if k <= 0 || k > len(t.order) {
		k = len(t.order)
	}
	if k == 0 {
		return nil
	}
	// The first k positions hold the k largest counts; include the whole
	// bucket at the boundary so that ties are broken by key, not by history.
	end := t.buckets[t.slots[t.order[k-1]].bucket].last + 1
	items := make([]Item, 0, end)
	for _, s := range t.order[:end] {
		sl := &t.slots[s]
		items = append(items, Item{Key: sl.key, Count: t.buckets[sl.bucket].count, Err: sl.err})
	}
	slices.SortFunc(items, compareItems)
	return items[:k:k]
}

// compareItems orders by count descending, then key ascending.
func compareItems(a, b Item) int {
	if c := cmp.Compare(b.Count, a.Count); c != 0 {
		return c
	}
	return cmp.Compare(a.Key, b.Key)
}

// Clone returns an independent copy of t.
func (t *TopK) Clone() *TopK {
	c := &TopK{
		capacity: t.capacity,
		n:        t.n,
		slots:    slices.Clone(t.slots),
		order:    slices.Clone(t.order),
		buckets:  slices.Clone(t.buckets),
		free:     slices.Clone(t.free),
	}
	if t.index != nil {
		c.index = make(map[string]int32, len(t.index))
		for k, v := range t.index {
			c.index[k] = v
		}
	}
	return c
}

// Reset empties t, keeping its capacity.
func (t *TopK) Reset() {
	cp := t.Capacity()
	clear(t.index)
	*t = TopK{capacity: cp, index: t.index, slots: t.slots[:0], order: t.order[:0], buckets: t.buckets[:0], free: t.free[:0]}
}

// Merge folds other into t, so that t summarizes both streams with the
// guarantees documented on TopK (N becomes the sum). other is not modified;
// merging t with itself doubles every count. Sketches of different
// capacities return an error wrapping ErrIncompatible, and a total weight
// overflowing uint64 returns an error; in both cases t is unchanged.
func (t *TopK) Merge(other *TopK) error {
	if other == nil {
		return nil
	}
	if t.Capacity() != other.Capacity() {
		return fmt.Errorf("%w: TopK capacity %d vs %d", ErrIncompatible, t.Capacity(), other.Capacity())
	}
	n, carry := bits.Add64(t.n, other.n, 0)
	if carry != 0 {
		return fmt.Errorf("sketch: TopK merge: total weight overflows uint64")
	}
	t.lazyInit()
	bt, bo := t.Bound(), other.Bound()
	items := make([]Item, 0, len(t.order)+len(other.order))
	for _, s := range t.order {
		sl := &t.slots[s]
		it := Item{Key: sl.key, Count: t.buckets[sl.bucket].count, Err: sl.err}
		if os, ok := other.index[sl.key]; ok {
			osl := &other.slots[os]
			it.Count += other.buckets[osl.bucket].count
			it.Err += osl.err
		} else {
			it.Count += bo
			it.Err += bo
		}
		items = append(items, it)
	}
	for _, s := range other.order {
		osl := &other.slots[s]
		if _, ok := t.index[osl.key]; ok {
			continue
		}
		items = append(items, Item{Key: osl.key, Count: other.buckets[osl.bucket].count + bt, Err: osl.err + bt})
	}
	slices.SortFunc(items, compareItems)
	if len(items) > t.capacity {
		items = items[:t.capacity]
	}
	t.rebuild(items, n)
	return nil
}

// rebuild replaces t's counters with items, which must be sorted by
// compareItems, have distinct keys and number at most t.capacity.
func (t *TopK) rebuild(items []Item, n uint64) {
	if t.index == nil {
		t.index = make(map[string]int32, len(items))
	} else {
		clear(t.index)
	}
	t.n = n
	t.slots = slices.Grow(t.slots[:0], len(items))
	t.order = slices.Grow(t.order[:0], len(items))
	t.buckets = t.buckets[:0]
	t.free = t.free[:0]
	for i, it := range items {
		pos := int32(i)
		var b int32
		if i > 0 && t.buckets[len(t.buckets)-1].count == it.Count {
			b = int32(len(t.buckets) - 1)
			t.buckets[b].last = pos
		} else {
			b = t.newBucket(it.Count, pos, pos)
		}
		t.slots = append(t.slots, tkSlot{key: it.Key, err: it.Err, bucket: b, pos: pos})
		t.order = append(t.order, pos)
		t.index[it.Key] = pos
	}
}

// topKMagic starts every TopK encoding: "BTK" and format version 1.
var topKMagic = [4]byte{'B', 'T', 'K', 1}

// MarshalBinary encodes t. The format is "BTK\x01", then uvarints: capacity,
// N, number of keys, and per key (largest count first, ties by key) the key's
// length, its bytes, its count and its error. Equal sketches encode equally.
func (t *TopK) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (t *TopK) AppendBinary(b []byte) ([]byte, error) {
	items := t.Top(0)
	b = append(b, topKMagic[:]...)
	b = binary.AppendUvarint(b, uint64(t.Capacity()))
	b = binary.AppendUvarint(b, t.n)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = binary.AppendUvarint(b, uint64(len(it.Key)))
		b = append(b, it.Key...)
		b = binary.AppendUvarint(b, it.Count)
		b = binary.AppendUvarint(b, it.Err)
	}
	return b, nil
}

// UnmarshalBinary replaces t with the sketch encoded in data. It checks the
// whole encoding, including the invariants Merge and Add rely on (distinct
// keys, 0 < Count, Err <= Count, Err <= Bound(), ΣCount <= N), before
// changing t; on malformed data it returns an error wrapping ErrCorrupt and
// leaves t unchanged. Allocation is bounded by the size of data.
func (t *TopK) UnmarshalBinary(data []byte) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: TopK: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) < len(topKMagic) || [4]byte(data[:4]) != topKMagic {
		return corrupt("bad magic or version")
	}
	r := data[4:]
	uvarint := func(what string) (uint64, error) {
		v, k := binary.Uvarint(r)
		if k <= 0 {
			return 0, corrupt("bad varint for %s", what)
		}
		r = r[k:]
		return v, nil
	}
	capacity, err := uvarint("capacity")
	if err != nil {
		return err
	}
	if capacity < 1 || capacity > MaxTopKCapacity {
		return corrupt("capacity %d outside [1, %d]", capacity, MaxTopKCapacity)
	}
	n, err := uvarint("N")
	if err != nil {
		return err
	}
	count, err := uvarint("key count")
	if err != nil {
		return err
	}
	// Each key takes at least 3 bytes (length, count, error).
	if count > capacity || count > uint64(len(r))/3 {
		return corrupt("%d keys for capacity %d in %d bytes", count, capacity, len(r))
	}
	items := make([]Item, 0, count)
	seen := make(map[string]struct{}, count)
	var sum uint64
	for i := range count {
		kl, err := uvarint("key length")
		if err != nil {
			return err
		}
		if kl > uint64(len(r)) {
			return corrupt("key %d length %d exceeds the %d bytes left", i, kl, len(r))
		}
		key := string(r[:kl])
		r = r[kl:]
		if _, dup := seen[key]; dup {
			return corrupt("duplicate key %q", key)
		}
		seen[key] = struct{}{}
		c, err := uvarint("count")
		if err != nil {
			return err
		}
		e, err := uvarint("error")
		if err != nil {
			return err
		}
		if c == 0 || e > c {
			return corrupt("key %q has count %d and error %d", key, c, e)
		}
		var carry uint64
		if sum, carry = bits.Add64(sum, c, 0); carry != 0 {
			return corrupt("counts overflow")
		}
		items = append(items, Item{Key: key, Count: c, Err: e})
	}
	if len(r) != 0 {
		return corrupt("%d trailing bytes", len(r))
	}
	if sum > n {
		return corrupt("counts sum to %d, more than N = %d", sum, n)
	}
	slices.SortFunc(items, compareItems)
	var bound uint64
	if count == capacity {
		bound = items[len(items)-1].Count
	}
	for _, it := range items {
		if it.Err > bound {
			return corrupt("key %q has error %d above the bound %d", it.Key, it.Err, bound)
		}
	}
	t.capacity = int(capacity)
	t.rebuild(items, n)
	return nil
}
