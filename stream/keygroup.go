package stream

import (
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"unsafe"
)

// Key groups are the unit in which keyed state is kept, checkpointed and
// moved when the parallelism changes (Flink's scheme). A pipeline has a
// maximum parallelism G ([WithMaxParallelism], default
// [DefaultMaxParallelism]); every key belongs to one of G key groups by a
// hash of the key that is the same in every process and every run
// ([KeyGroupOf]); and instance i of an operator running at parallelism P owns
// the contiguous range of groups [KeyGroupRangeOf](i, P, G). A checkpoint
// stores keyed state per key group, so it can be restored at any
// parallelism up to G: each new instance takes exactly the groups of its
// range, whichever old instances wrote them.

// DefaultMaxParallelism is the number of key groups of a pipeline unless
// [WithMaxParallelism] says otherwise.
const DefaultMaxParallelism = 128

// MaxKeyGroups is the largest maximum parallelism a pipeline may have.
const MaxKeyGroups = 1 << 15

// WithMaxParallelism sets the pipeline's maximum parallelism: the number of
// key groups its keyed state is split into, and so the largest parallelism
// of any keyed stream, now and in every run restored from its checkpoints
// (default [DefaultMaxParallelism]; at most [MaxKeyGroups]). It must not
// change between a run and a run restored from its checkpoint: keys would
// map to other groups. A parallelism above it makes Run fail with
// [ErrInvalid].
func WithMaxParallelism(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > MaxKeyGroups {
			return fmt.Errorf("%w: max parallelism %d not in [1, %d]", ErrInvalid, n, MaxKeyGroups)
		}
		c.maxParallelism = n
		return nil
	})
}

// KeyGroupRange is the contiguous range of key groups [Start, End) owned by
// one operator instance.
type KeyGroupRange struct {
	Start, End int
}

// Contains reports whether group g is in r.
func (r KeyGroupRange) Contains(g int) bool { return g >= r.Start && g < r.End }

// Len returns the number of groups in r.
func (r KeyGroupRange) Len() int { return r.End - r.Start }

// String formats r as "[start, end)".
func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d, %d)", r.Start, r.End) }

// KeyGroupRangeOf returns the key groups owned by instance i of an operator
// running at parallelism p in a pipeline of maximum parallelism maxPar: the
// groups g with InstanceOf(g, p, maxPar) == i. It panics unless
// 0 <= i < p <= maxPar.
func KeyGroupRangeOf(i, p, maxPar int) KeyGroupRange {
	if i < 0 || i >= p || p > maxPar {
		panic(fmt.Sprintf("stream: KeyGroupRangeOf(%d, %d, %d)", i, p, maxPar))
	}
	return KeyGroupRange{Start: ceilDiv(i*maxPar, p), End: ceilDiv((i+1)*maxPar, p)}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// InstanceOf returns the instance, among p, that owns key group g in a
// pipeline of maximum parallelism maxPar: g*p/maxPar.
func InstanceOf(g, p, maxPar int) int { return g * p / maxPar }

// KeyGroupOf returns the key group, in [0, maxPar), of a key whose stable
// hash is h (see [StableHash]): the high word of h*maxPar, which spreads
// any hash evenly and needs no division.
func KeyGroupOf(h uint64, maxPar int) int {
	hi, _ := bits.Mul64(h, uint64(maxPar))
	return int(hi)
}

// StableHasher is implemented by key types that give their own hash for key
// groups, for keys brook cannot hash by itself (pointers, interfaces,
// channels) or to keep a hash that other systems share. StableHash must
// depend on the key's value only, be the same in every process and every
// run, and be equal for keys that are ==.
type StableHasher interface {
	StableHash() uint64
}

var stableHasherType = reflect.TypeFor[StableHasher]()

// StableHash returns the hash function brook uses to put keys of type K into
// key groups, or an error wrapping [ErrInvalid] if K has none. It is defined
// for booleans, integers, floating-point and complex numbers, strings, and
// arrays and structs of them (by value, blank fields left out, +0 and -0
// alike), and for any type implementing [StableHasher]; it never depends on
// the process (no maphash seed), so key groups in a checkpoint stay valid in
// the next run and in other processes. Pointers, channels and interfaces
// have no value-based hash: such keys must implement StableHasher.
func StableHash[K comparable]() (func(K) uint64, error) {
	t := reflect.TypeFor[K]()
	if t.Implements(stableHasherType) {
		return func(k K) uint64 { return any(k).(StableHasher).StableHash() }, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(k K) uint64 { return hashString(*(*string)(unsafe.Pointer(&k))) }, nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if t.Size() == 4 { // int, uint, uintptr on 32-bit platforms: as the 64-bit value
			if t.Kind() == reflect.Int {
				return func(k K) uint64 { return mix64(uint64(int64(*(*int32)(unsafe.Pointer(&k))))) }, nil
			}
			return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k)))) }, nil
		}
		return func(k K) uint64 { return mix64(*(*uint64)(unsafe.Pointer(&k))) }, nil
	case reflect.Int32, reflect.Uint32:
		return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k)))) }, nil
	case reflect.Int16, reflect.Uint16:
		return func(k K) uint64 { return mix64(uint64(*(*uint16)(unsafe.Pointer(&k)))) }, nil
	case reflect.Int8, reflect.Uint8, reflect.Bool:
		return func(k K) uint64 { return mix64(uint64(*(*uint8)(unsafe.Pointer(&k)))) }, nil
	}
	h, err := layoutHash(t)
	if err != nil {
		return nil, fmt.Errorf("%w: key type %v: %w", ErrInvalid, t, err)
	}
	return func(k K) uint64 { return h(unsafe.Pointer(&k), 0) }, nil
}

// layoutHash compiles a hash of the value at a pointer for a type made of
// numbers, booleans and strings. The seed chains the parts.
func layoutHash(t reflect.Type) (func(p unsafe.Pointer, h uint64) uint64, error) {
	word := func(read func(p unsafe.Pointer) uint64) func(unsafe.Pointer, uint64) uint64 {
		return func(p unsafe.Pointer, h uint64) uint64 { return mix64(h ^ (read(p) + 0x9e3779b97f4a7c15)) }
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return word(func(p unsafe.Pointer) uint64 { return uint64(*(*uint8)(p)) }), nil
	case reflect.Int16, reflect.Uint16:
		return word(func(p unsafe.Pointer) uint64 { return uint64(*(*uint16)(p)) }), nil
	case reflect.Int32, reflect.Uint32:
		return word(func(p unsafe.Pointer) uint64 { return uint64(*(*uint32)(p)) }), nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if t.Size() == 4 { // int, uint, uintptr on 32-bit platforms: as the 64-bit value
			if t.Kind() == reflect.Int {
				return word(func(p unsafe.Pointer) uint64 { return uint64(int64(*(*int32)(p))) }), nil
			}
			return word(func(p unsafe.Pointer) uint64 { return uint64(*(*uint32)(p)) }), nil
		}
		return word(func(p unsafe.Pointer) uint64 { return *(*uint64)(p) }), nil
	case reflect.Float32:
		return word(func(p unsafe.Pointer) uint64 { return float64Bits(float64(*(*float32)(p))) }), nil
	case reflect.Float64:
		return word(func(p unsafe.Pointer) uint64 { return float64Bits(*(*float64)(p)) }), nil
	case reflect.Complex64:
		return func(p unsafe.Pointer, h uint64) uint64 {
			c := *(*complex64)(p)
			h = mix64(h ^ (float64Bits(float64(real(c))) + 0x9e3779b97f4a7c15))
			return mix64(h ^ (float64Bits(float64(imag(c))) + 0x9e3779b97f4a7c15))
		}, nil
	case reflect.Complex128:
		return func(p unsafe.Pointer, h uint64) uint64 {
			c := *(*complex128)(p)
			h = mix64(h ^ (float64Bits(real(c)) + 0x9e3779b97f4a7c15))
			return mix64(h ^ (float64Bits(imag(c)) + 0x9e3779b97f4a7c15))
		}, nil
	case reflect.String:
		return func(p unsafe.Pointer, h uint64) uint64 {
			return mix64(h ^ (hashString(*(*string)(p)) + 0x9e3779b97f4a7c15))
		}, nil
	case reflect.Array:
		elem, err := layoutHash(t.Elem())
		if err != nil {
			return nil, err
		}
		n, size := t.Len(), t.Elem().Size()
		return func(p unsafe.Pointer, h uint64) uint64 {
			for i := range n {
				h = elem(unsafe.Add(p, uintptr(i)*size), h)
			}
			return h
		}, nil
	case reflect.Struct:
		type part struct {
			off  uintptr
			hash func(unsafe.Pointer, uint64) uint64
		}
		var parts []part
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue // == leaves blank fields out
			}
			h, err := layoutHash(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			parts = append(parts, part{off: f.Offset, hash: h})
		}
		return func(p unsafe.Pointer, h uint64) uint64 {
			for _, pt := range parts {
				h = pt.hash(unsafe.Add(p, pt.off), h)
			}
			return h
		}, nil
	}
	return nil, fmt.Errorf("%v has no value-based stable hash (implement stream.StableHasher)", t)
}

// float64Bits returns the bits of f with -0 as +0, since they are ==.
func float64Bits(f float64) uint64 {
	if f == 0 {
		return 0
	}
	return math.Float64bits(f)
}

// keyRouter maps a key's hash to its group and the group to its instance
// among n: the exchange's routing for KeyBy and Connect.
type keyRouter struct {
	maxPar   uint64
	instance []uint16 // per key group
}

func newKeyRouter(n, maxPar int) *keyRouter {
	r := &keyRouter{maxPar: uint64(maxPar), instance: make([]uint16, maxPar)}
	for g := range r.instance {
		r.instance[g] = uint16(InstanceOf(g, n, maxPar))
	}
	return r
}

func (r *keyRouter) route(h uint64) int {
	hi, _ := bits.Mul64(h, r.maxPar)
	return int(r.instance[hi])
}
