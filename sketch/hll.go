package sketch

import (
	"errors"
	"fmt"

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

// WithSparse chooses whether a new HLL starts in the sparse representation
// (the default, true): small cardinalities then cost a few bytes per key
// instead of 2^p bytes and are counted almost exactly; the sketch turns dense
// by itself when that is smaller. WithSparse(false) allocates the dense
// registers at once, which suits sketches that will see many keys.
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
// strings and bytes, splitmix64 for integers), so equal keys land in the same
// register in every process and sketches built anywhere merge. A key added
// as a string and the same digits added as an integer are different keys.
//
// The estimate is cached: Estimate computes it (≈0.4 ms for a dense sketch at
// precision 14) only after an Add or Merge has changed the sketch. An HLL is
// not safe for concurrent use, not even for concurrent Estimate calls; keep
// one per goroutine (per parallel instance) and Merge them.
//
// The zero value is an empty sketch of DefaultPrecision in sparse mode.
// Use Clone, not assignment, to copy one.
type HLL struct {
	sk       *hyperloglog.Sketch
	p        uint8 // precision of sk; the library does not expose it
	est      uint64
	estValid bool
}

// NewHLL returns an empty HLL. The options default to DefaultPrecision and
// the sparse representation; an out-of-range precision returns an error
// wrapping ErrInvalidOption.
func NewHLL(opts ...HLLOption) (*HLL, error) {
	c, err := newHLLConfig(opts)
	if err != nil {
		return nil, err
	}
	return newHLL(c), nil
}

func newHLL(c hllConfig) *HLL {
	sk, err := hyperloglog.NewSketch(c.precision, c.sparse)
	if err != nil { // unreachable: the precision was validated
		panic(fmt.Sprintf("sketch: %v", err))
	}
	return &HLL{sk: sk, p: c.precision, estValid: true}
}

func (h *HLL) lazyInit() {
	if h.sk == nil {
		h.sk = hyperloglog.New14()
		h.p = DefaultPrecision
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
	if h.sk == nil {
		h.lazyInit()
	}
	h.sk.InsertHash(hash)
	h.estValid = false
}

// Estimate returns the estimated number of distinct keys added (and merged)
// so far. It is cached: repeated calls without Add or Merge in between cost
// nothing. It is not safe to call concurrently.
func (h *HLL) Estimate() uint64 {
	if h.sk == nil {
		return 0
	}
	if !h.estValid {
		h.est = h.sk.Estimate()
		h.estValid = true
	}
	return h.est
}

// Merge folds other into h, so that h estimates the union of both streams.
// other is not modified. A nil other, or h itself, is a no-op. Sketches of
// different precisions return an error wrapping ErrIncompatible and leave h
// unchanged. A zero-value h adopts other's precision.
func (h *HLL) Merge(other *HLL) error {
	if other == nil || other == h || other.sk == nil {
		return nil
	}
	if h.sk == nil {
		h.sk, h.p = other.sk.Clone(), other.p
		h.est, h.estValid = other.est, other.estValid
		return nil
	}
	if err := h.sk.Merge(other.sk); err != nil {
		if errors.Is(err, hyperloglog.ErrorPrecisionMismatch) {
			return fmt.Errorf("%w: HLL precision %d vs %d", ErrIncompatible, h.Precision(), other.Precision())
		}
		return fmt.Errorf("sketch: HLL merge: %w", err)
	}
	h.estValid = false
	return nil
}

// Clone returns an independent copy of h.
func (h *HLL) Clone() *HLL {
	if h.sk == nil {
		return &HLL{}
	}
	return &HLL{sk: h.sk.Clone(), p: h.p, est: h.est, estValid: h.estValid}
}

// Reset empties h, keeping its precision.
func (h *HLL) Reset() {
	if h.sk != nil {
		h.sk.Reset()
	}
	h.est, h.estValid = 0, true
}

// Precision returns p, the base-2 logarithm of the number of registers.
func (h *HLL) Precision() uint8 {
	if h.sk == nil {
		return DefaultPrecision
	}
	return h.p
}

// MarshalBinary encodes h in github.com/axiomhq/hyperloglog's binary format
// (version 2), so it can be read back by UnmarshalBinary here or by that
// library directly. The encoding is not canonical: equal sketches may encode
// to different bytes.
func (h *HLL) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (h *HLL) AppendBinary(b []byte) ([]byte, error) {
	h.lazyInit()
	out, err := h.sk.AppendBinary(b)
	if err != nil {
		return b, fmt.Errorf("sketch: HLL marshal: %w", err)
	}
	return out, nil
}

// UnmarshalBinary replaces h with the sketch encoded in data. Malformed data
// returns an error wrapping ErrCorrupt and leaves h unchanged.
func (h *HLL) UnmarshalBinary(data []byte) error {
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(data); err != nil {
		return fmt.Errorf("%w: HLL: %w", ErrCorrupt, err)
	}
	h.sk, h.p = sk, data[1] // the library validated the header: byte 1 is p
	h.est, h.estValid = 0, false
	return nil
}
