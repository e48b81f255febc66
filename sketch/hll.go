package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

const (
	// DefaultPrecision is the HLL precision used when none is given:
	// 2^14 registers, 16 KiB dense, relative standard error ≈ 0.81 %.
	DefaultPrecision uint8 = 14
	// MinPrecision and MaxPrecision bound the precision HLL accepts (the
	// range github.com/axiomhq/hyperloglog supports).
	MinPrecision uint8 = 4
	MaxPrecision uint8 = 18
)

// HLLOption configures NewHLL and the distinct-count aggregators. It is a
// sealed interface: only this package's With… functions make one.
type HLLOption interface{ applyHLL(*hllConfig) }

type hllConfig struct {
	precision uint8
	sparse    bool
}

type hllOptionFunc func(*hllConfig)

func (f hllOptionFunc) applyHLL(c *hllConfig) { f(c) }

// WithPrecision sets the number of HLL registers to 2^p, p in
// [MinPrecision, MaxPrecision]. The relative standard error is 1.04/√(2^p):
// 1.6 % at 12, 0.81 % at 14, 0.41 % at 16. A dense sketch holds 2^p bytes.
// Sketches merge only with sketches of the same precision.
func WithPrecision(p uint8) HLLOption {
	return hllOptionFunc(func(c *hllConfig) { c.precision = p })
}

// WithSparse chooses whether a new HLL starts sparse (the default, true) or
// dense. A sparse HLL keeps the exact set of its keys' 64-bit hashes, about
// 12 bytes per key, and counts exactly until it holds 2^p/16 keys (1024 at
// p = 14), where it turns into the 2^p dense registers it would have had
// from the start. Per-key, per-window sketches are mostly small, so sparse
// saves both memory and time there. WithSparse(false) allocates the dense
// registers at once, for sketches that will see many keys.
func WithSparse(sparse bool) HLLOption {
	return hllOptionFunc(func(c *hllConfig) { c.sparse = sparse })
}

func newHLLConfig(opts []HLLOption) (hllConfig, error) {
	c := hllConfig{precision: DefaultPrecision, sparse: true}
	for _, o := range opts {
		o.applyHLL(&c)
	}
	if c.precision < MinPrecision || c.precision > MaxPrecision {
		return c, fmt.Errorf("%w: HLL precision %d outside [%d, %d]", ErrInvalidOption, c.precision, MinPrecision, MaxPrecision)
	}
	return c, nil
}

// HLL is a HyperLogLog distinct-count sketch on github.com/axiomhq/hyperloglog.
//
// Keys are hashed here with a fixed 64-bit hash (MetroHash64 seed 1337 for
// strings and bytes, the same as the library's Insert; splitmix64 for
// integers), so equal keys land in the same register in every process and
// sketches built anywhere merge. A key added as a string and the same digits
// added as an integer are different keys.
//
// A new HLL is sparse (see WithSparse): it counts exactly up to 2^p/16 keys,
// then holds the library's dense registers. Sketches decoded from the
// library's own sparse encoding stay in the library's sparse representation.
// For sketches built by this package, merging, or adding the keys in another
// order, gives exactly the registers (and estimate) of one sketch fed the
// union.
//
// The estimate is cached: Estimate computes it (≈0.5 ms for a dense sketch at
// precision 14) only after an Add or Merge has changed the sketch. An HLL is
// not safe for concurrent use, not even for concurrent Estimate calls; keep
// one per goroutine (per parallel instance) and Merge them.
//
// The zero value is an empty sparse sketch of DefaultPrecision. Use Clone,
// not assignment, to copy one.
type HLL struct {
	p          uint8               // precision; 0 in an unused zero value
	startDense bool                // from WithSparse(false); Reset returns to it
	small      hashSet             // the exact sparse set when small.slots != nil
	sk         *hyperloglog.Sketch // the library sketch otherwise
	est        uint64
	estValid   bool
}

// NewHLL returns an empty HLL. The options default to DefaultPrecision and
// sparse; an out-of-range precision returns an error wrapping
// ErrInvalidOption.
func NewHLL(opts ...HLLOption) (*HLL, error) {
	c, err := newHLLConfig(opts)
	if err != nil {
		return nil, err
	}
	return newHLL(c), nil
}

func newHLL(c hllConfig) *HLL {
	h := &HLL{p: c.precision, startDense: !c.sparse}
	h.Reset()
	return h
}

// smallMax is the number of keys a sparse HLL holds before turning dense: at
// 2^p/16 keys its hash table (≤ 3/4 full) is as large as the registers.
func smallMax(p uint8) int { return max(4, 1<<p/16) }

func (h *HLL) lazyInit() {
	if h.p == 0 {
		h.p = DefaultPrecision
		h.small = newHashSet()
	}
}

// AddString adds the key s.
func (h *HLL) AddString(s string) { h.AddHash(hashString(s)) }

// AddBytes adds the key b; it equals AddString(string(b)) and does not
// retain b.
func (h *HLL) AddBytes(b []byte) { h.AddHash(hashBytes(b)) }

// AddUint64 adds the integer key x, mixed through a 64-bit finalizer.
func (h *HLL) AddUint64(x uint64) { h.AddHash(hashUint64(x)) }

// AddInt64 adds the integer key x; it equals AddUint64(uint64(x)).
func (h *HLL) AddInt64(x int64) { h.AddHash(hashUint64(uint64(x))) }

// AddHash adds a key the caller has already hashed. hash must be uniformly
// distributed over all 64 bits (the register is taken from the top bits):
// passing raw integers or a 32-bit hash gives meaningless estimates. For
// sketches to merge, every producer must use the same hash function.
func (h *HLL) AddHash(hash uint64) {
	if h.small.slots != nil {
		if h.small.add(hash) && h.small.n > smallMax(h.p) {
			h.toDense()
		}
		return
	}
	if h.sk == nil {
		h.lazyInit()
		h.AddHash(hash)
		return
	}
	h.sk.InsertHash(hash)
	h.estValid = false
}

// toDense moves the exact set into dense library registers.
func (h *HLL) toDense() {
	sk, err := hyperloglog.NewSketch(h.p, false)
	if err != nil { // unreachable: p is always validated
		panic(fmt.Sprintf("sketch: %v", err))
	}
	h.small.each(sk.InsertHash)
	h.sk, h.small, h.estValid = sk, hashSet{}, false
}

// Estimate returns the estimated number of distinct keys added (and merged)
// so far; a sparse HLL returns the exact count. It is cached: repeated calls
// without Add or Merge in between cost nothing. It is not safe to call
// concurrently.
func (h *HLL) Estimate() uint64 {
	switch {
	case h.small.slots != nil:
		return uint64(h.small.n)
	case h.sk == nil:
		return 0
	case !h.estValid:
		h.est = h.sk.Estimate()
		h.estValid = true
	}
	return h.est
}

// Merge folds other into h, so that h estimates the union of both streams.
// other is not modified. A nil other, or h itself, is a no-op. Sketches of
// different precisions return an error wrapping ErrIncompatible and leave h
// unchanged. An unused zero-value h adopts other's precision.
func (h *HLL) Merge(other *HLL) error {
	if other == nil || other == h || other.p == 0 {
		return nil
	}
	if h.p == 0 {
		*h = *other.Clone()
		return nil
	}
	if h.p != other.p {
		return fmt.Errorf("%w: HLL precision %d vs %d", ErrIncompatible, h.p, other.p)
	}
	switch {
	case other.small.slots != nil && h.small.slots != nil && h.small.n == 0:
		h.small = other.small.clone() // one allocation, no rehashing
	case other.small.slots != nil && h.small.slots != nil:
		// Grow once for the union (as far as the set may grow before it
		// turns dense), not step by step as the keys come in.
		h.small.reserve(min(h.small.n+other.small.n, smallMax(h.p)+1))
		other.small.each(h.AddHash)
	case other.small.slots != nil:
		other.small.each(h.sk.InsertHash)
	case h.small.slots != nil:
		// Adopt other's library representation and add our hashes to it.
		small := h.small
		h.sk, h.small = other.sk.Clone(), hashSet{}
		small.each(h.sk.InsertHash)
	default:
		if err := h.sk.Merge(other.sk); err != nil {
			if errors.Is(err, hyperloglog.ErrorPrecisionMismatch) { // unreachable: p was compared
				return fmt.Errorf("%w: %w", ErrIncompatible, err)
			}
			return fmt.Errorf("sketch: HLL merge: %w", err)
		}
	}
	h.estValid = false
	return nil
}

// Clone returns an independent copy of h.
func (h *HLL) Clone() *HLL {
	c := *h
	if h.small.slots != nil {
		c.small = h.small.clone()
	}
	if h.sk != nil {
		c.sk = h.sk.Clone()
	}
	return &c
}

// Reset empties h, keeping its precision and returning to the
// representation it was created with.
func (h *HLL) Reset() {
	if h.p == 0 {
		return
	}
	h.est, h.estValid = 0, true
	if h.startDense {
		if h.sk != nil && h.small.slots == nil {
			h.sk.Reset()
			return
		}
		h.small = hashSet{}
		h.sk, _ = hyperloglog.NewSketch(h.p, false)
		return
	}
	h.sk = nil
	if h.small.slots != nil {
		h.small.reset()
		return
	}
	h.small = newHashSet()
}

// Precision returns p, the base-2 logarithm of the number of registers.
func (h *HLL) Precision() uint8 {
	if h.p == 0 {
		return DefaultPrecision
	}
	return h.p
}

// smallMarker starts the encoding of a sparse HLL; the library's own
// encodings start with version byte 1 or 2.
const smallMarker = 'b'

// MarshalBinary encodes h. A dense HLL (or one decoded from the library's
// sparse form) is written in github.com/axiomhq/hyperloglog's binary format
// (version 2), readable by that library directly. A sparse HLL is written
// exactly, so that a decoded sketch behaves exactly like the original:
// 'b', p, a big-endian uint32 count n ≤ 2^p/16, then the n key hashes as
// big-endian uint64s in increasing order.
func (h *HLL) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (h *HLL) AppendBinary(b []byte) ([]byte, error) {
	h.lazyInit()
	if h.small.slots != nil {
		hashes := h.small.sorted()
		b = slices.Grow(b, 6+8*len(hashes))
		b = append(b, smallMarker, h.p)
		b = binary.BigEndian.AppendUint32(b, uint32(len(hashes)))
		for _, x := range hashes {
			b = binary.BigEndian.AppendUint64(b, x)
		}
		return b, nil
	}
	out, err := h.sk.AppendBinary(b)
	if err != nil {
		return b, fmt.Errorf("sketch: HLL marshal: %w", err)
	}
	return out, nil
}

// UnmarshalBinary replaces h with the sketch encoded in data: either format
// MarshalBinary writes, or any encoding of github.com/axiomhq/hyperloglog.
// Malformed data returns an error wrapping ErrCorrupt and leaves h
// unchanged.
func (h *HLL) UnmarshalBinary(data []byte) error {
	if len(data) > 0 && data[0] == smallMarker {
		return h.unmarshalSmall(data)
	}
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(data); err != nil {
		return fmt.Errorf("%w: HLL: %w", ErrCorrupt, err)
	}
	// The library validated the header: byte 1 is p, byte 3 is 0 if dense.
	*h = HLL{p: data[1], startDense: data[3] == 0, sk: sk}
	return nil
}

func (h *HLL) unmarshalSmall(data []byte) error {
	if len(data) < 6 {
		return fmt.Errorf("%w: HLL: sparse header needs 6 bytes, have %d", ErrCorrupt, len(data))
	}
	p := data[1]
	if p < MinPrecision || p > MaxPrecision {
		return fmt.Errorf("%w: HLL: precision %d", ErrCorrupt, p)
	}
	n := binary.BigEndian.Uint32(data[2:6])
	if n > uint32(smallMax(p)) {
		return fmt.Errorf("%w: HLL: %d sparse keys, more than %d at precision %d", ErrCorrupt, n, smallMax(p), p)
	}
	if len(data) != 6+8*int(n) {
		return fmt.Errorf("%w: HLL: %d sparse keys need %d bytes, have %d", ErrCorrupt, n, 6+8*int(n), len(data))
	}
	s := newHashSet()
	for i := range int(n) {
		x := binary.BigEndian.Uint64(data[6+8*i:])
		if i > 0 && x <= binary.BigEndian.Uint64(data[6+8*(i-1):]) {
			return fmt.Errorf("%w: HLL: sparse keys not strictly increasing at %d", ErrCorrupt, i)
		}
		s.add(x)
	}
	*h = HLL{p: p, small: s, estValid: true}
	return nil
}

// hashSet is an open-addressing set of 64-bit hashes with linear probing;
// slot value 0 means empty, and the hash 0 is kept aside.
type hashSet struct {
	slots []uint64 // len is a power of two, at most 3/4 full
	n     int      // elements, the zero hash included
	zero  bool
}

func newHashSet() hashSet { return hashSet{slots: make([]uint64, 8)} }

// add inserts x and reports whether it was new.
func (s *hashSet) add(x uint64) bool {
	if x == 0 {
		if s.zero {
			return false
		}
		s.zero = true
		s.n++
		return true
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow(2 * len(s.slots))
	}
	mask := uint64(len(s.slots) - 1)
	for i := x & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case x:
			return false
		case 0:
			s.slots[i] = x
			s.n++
			return true
		}
	}
}

// reserve grows s, if need be, so that it holds n elements without
// growing again.
func (s *hashSet) reserve(n int) {
	size := len(s.slots)
	for 4*n > 3*size {
		size *= 2
	}
	if size > len(s.slots) {
		s.grow(size)
	}
}

// grow rehashes s into size slots (a power of two, more than it has).
func (s *hashSet) grow(size int) {
	old := s.slots
	s.slots = make([]uint64, size)
	mask := uint64(len(s.slots) - 1)
	for _, x := range old {
		if x == 0 {
			continue
		}
		i := x & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = x
	}
}

func (s *hashSet) each(f func(uint64)) {
	if s.zero {
		f(0)
	}
	for _, x := range s.slots {
		if x != 0 {
			f(x)
		}
	}
}

func (s *hashSet) sorted() []uint64 {
	out := make([]uint64, 0, s.n)
	s.each(func(x uint64) { out = append(out, x) })
	slices.Sort(out)
	return out
}

func (s *hashSet) clone() hashSet {
	return hashSet{slots: slices.Clone(s.slots), n: s.n, zero: s.zero}
}

func (s *hashSet) reset() {
	if len(s.slots) > 64 {
		s.slots = make([]uint64, 8)
	} else {
		clear(s.slots)
	}
	s.n, s.zero = 0, false
}
