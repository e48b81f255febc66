package window

import (
	"hash/maphash"
	"reflect"
	"unsafe"
)

// A pane with many keys finds a key's slot through a keyIndex: an
// open-addressing hash table (linear probing, at most half full) of slot
// numbers, each beside 32 bits of its key's hash so that a probe rarely
// looks at a slot that is not the one. It beats a Go map here because an
// entry is 8 bytes and a lookup touches one of them and then the slot,
// where map[K]int32 touches a control word, a key/value group and then
// the slot; and clearing it for reuse is one memclr.

// keyHasher hashes keys for a keyIndex, with the common key kinds inlined.
// Its seed is random per store: the table's layout is no part of the
// output (slots keep their order), and keys routed to one parallel
// instance by their stable hash do not cluster in it.
type keyHasher[K comparable] struct {
	kind uint8 // hashWord, hashWord32, hashString or hashOther
	word uint64
	seed maphash.Seed
}

const (
	hashOther = iota
	hashWord
	hashWord32
	hashString
)

func newKeyHasher[K comparable]() keyHasher[K] {
	h := keyHasher[K]{seed: maphash.MakeSeed()}
	h.word = maphash.Comparable(h.seed, uint64(0x9e3779b97f4a7c15))
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if t.Size() == 8 {
			h.kind = hashWord
		} else {
			h.kind = hashWord32
		}
	case reflect.Int32, reflect.Uint32:
		h.kind = hashWord32
	case reflect.String:
		h.kind = hashString
	}
	return h
}

// of returns the hash of k.
func (h *keyHasher[K]) of(k K) uint64 {
	switch h.kind {
	case hashWord:
		return mix64(*(*uint64)(unsafe.Pointer(&k)) ^ h.word)
	case hashWord32:
		return mix64(uint64(*(*uint32)(unsafe.Pointer(&k))) ^ h.word)
	case hashString:
		return maphash.String(h.seed, *(*string)(unsafe.Pointer(&k)))
	}
	return maphash.Comparable(h.seed, k)
}

// mix64 is the splitmix64 finalizer: a bijection of the 64-bit words
// whose every output bit depends on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ixEntry is one entry of a keyIndex: a slot number plus one (0: empty)
// and the high 32 bits of its key's hash.
type ixEntry struct {
	tag  uint32
	slot int32
}

// keyIndex maps keys to slot numbers; the keys themselves are in the
// slots, which the caller compares. Its length is a power of two, and it
// holds at most half as many entries.
type keyIndex struct {
	ents []ixEntry
	n    int
}

// minIndex is the smallest table a keyIndex makes.
const minIndex = 64

// sizeFor returns the table length for n keys: a power of two at least 2n.
func sizeFor(n int) int {
	size := minIndex
	for size < 2*n {
		size <<= 1
	}
	return size
}

// reserve makes the index ready for n keys without growing, dropping what
// it holds.
func (x *keyIndex) reserve(n int) {
	if size := sizeFor(n); len(x.ents) < size {
		x.ents = make([]ixEntry, size)
	} else {
		clear(x.ents)
	}
	x.n = 0
}

// reset empties the index, keeping its table.
func (x *keyIndex) reset() {
	clear(x.ents)
	x.n = 0
}

// put records slot i for a key of hash h that the index does not hold,
// starting its probe at pos (from a failed lookup, or h's home position).
// It reports false, recording nothing, when the index is full (more than
// half): the caller then grows it with rebuild and puts again.
func (x *keyIndex) put(h uint64, pos int, i int32) bool {
	if 2*(x.n+1) > len(x.ents) {
		return false
	}
	mask := len(x.ents) - 1
	for x.ents[pos].slot != 0 {
		pos = (pos + 1) & mask
	}
	x.ents[pos] = ixEntry{tag: uint32(h >> 32), slot: i + 1}
	x.n++
	return true
}

// home returns the position where the probe for hash h starts.
func (x *keyIndex) home(h uint64) int { return int(h) & (len(x.ents) - 1) }
