package stream

import (
	"fmt"
	"reflect"
	"unsafe"
)

// KeyedStream is a stream partitioned by key: every record with the same key
// goes to the same parallel instance downstream, which owns the state for its
// keys. The instance is chosen through the key's key group (see
// [KeyGroupOf]), so keyed state can be checkpointed per group and restored
// at another parallelism.
type KeyedStream[K comparable, T any] struct {
	Stream[T]
	// Key extracts a record's key.
	Key func(T) K

	hash func(K) uint64 // the stable hash routing keys; nil in a hand-made KeyedStream
}

// KeyGroup returns the function from a key to its key group, in
// [0, maxParallelism): the groups by which operators on s keep and
// checkpoint their state (an instance owns [Context.KeyGroups]). Call it
// while building the pipeline; a key type without a stable hash is reported
// by Run.
func (s KeyedStream[K, T]) KeyGroup() func(K) int {
	p := s.must().p
	h := s.hash
	if h == nil {
		var err error
		if h, err = StableHash[K](); err != nil {
			p.fail(err)
			return func(K) int { return 0 }
		}
	}
	return keyGroupOf(h, p.cfg.maxParallelism)
}

// keyGroupOf returns KeyGroupOf(h(k), maxPar) for h the StableHash of K,
// in one call for the common key kinds (their hashes inlined).
func keyGroupOf[K comparable](h func(K) uint64, maxPar int) func(K) int {
	t := reflect.TypeFor[K]()
	if !t.Implements(stableHasherType) {
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
			if t.Size() == 8 {
				return func(k K) int { return KeyGroupOf(mix64(*(*uint64)(unsafe.Pointer(&k))), maxPar) }
			}
		case reflect.String:
			return func(k K) int { return KeyGroupOf(hashString(*(*string)(unsafe.Pointer(&k))), maxPar) }
		}
	}
	return func(k K) int { return KeyGroupOf(h(k), maxPar) }
}

// KeyBy partitions s by key into Parallelism instances (default: the
// pipeline's parallelism, at most its maximum parallelism), through an
// exchange. A key goes to its key group by a hash that is the same in every
// process and run ([StableHash]), and the group to the instance owning it
// ([InstanceOf]). A key type without a stable hash (a pointer, an
// interface, a struct holding one) makes Run fail with [ErrInvalid] unless
// it implements [StableHasher]. The exchange runs key in the upstream task
// to route each record, except with one instance, which owns every key
// group: there the keyed operator after it is the first to call key. key
// must be a pure function of the value. Its default name is its input's
// name and ".keyby" (see [Name]).
func KeyBy[T any, K comparable](s Stream[T], key func(T) K, opts ...ExchangeOption) KeyedStream[K, T] {
	in := s.must()
	nilKey := key == nil
	if nilKey {
		key = func(T) K { var k K; return k }
	}
	kh, err := StableHash[K]()
	if err != nil {
		in.p.fail(fmt.Errorf("keyby: %w", err))
		kh = func(K) uint64 { return 0 }
	}
	out := exchange(s, "keyby", in.p.cfg.parallelism, keyHasher(key, kh), opts...)
	if nilKey {
		in.p.failf("%s: nil key function", out.Name())
	}
	maxPar := in.p.cfg.maxParallelism
	out.o.keyGroup = func(v T) int { return KeyGroupOf(kh(key(v)), maxPar) }
	return KeyedStream[K, T]{Stream: out, Key: key, hash: kh}
}

// Rebalance spreads s round-robin over Parallelism instances (default: the
// pipeline's parallelism), through an exchange. Its default name is its
// input's name and ".rebalance" (see [Name]).
func Rebalance[T any](s Stream[T], opts ...ExchangeOption) Stream[T] {
	return exchange(s, "rebalance", s.must().p.cfg.parallelism, nil, opts...)
}

// Union merges streams of the same type into one stream, by default with one
// instance (use Rebalance or KeyBy after it to spread again, or
// [Parallelism] to spread round robin). Its watermark is the minimum over all
// its inputs' instances, leaving out idle ones. Its default name is the
// first stream's name and ".union" (see [Name]).
func Union[T any](streams []Stream[T], opts ...ExchangeOption) Stream[T] {
	if len(streams) == 0 {
		panic("stream: Union of no streams")
	}
	first := streams[0].must()
	p := first.p
	x := newExchange[T](p, first.name, "union", 1, nil, opts)
	for _, s := range streams {
		if s.must().p != p {
			p.failf("%s: streams of different pipelines", x.name)
			continue
		}
		x.attach(s)
	}
	return Stream[T]{o: x.down}
}

// keyHasher returns the hash of a value's key, with the hash of the common
// key kinds inlined: one call per record less on the exchange's hot path.
// The inlined hashes are those of StableHash.
func keyHasher[T any, K comparable](key func(T) K, h func(K) uint64) func(T) uint64 {
	t := reflect.TypeFor[K]()
	if !t.Implements(stableHasherType) {
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
			if t.Size() != 8 {
				break // a 32-bit int: StableHash's
			}
			return func(v T) uint64 {
				k := key(v)
				return mix64(*(*uint64)(unsafe.Pointer(&k)))
			}
		case reflect.String:
			return func(v T) uint64 {
				k := key(v)
				return hashString(*(*string)(unsafe.Pointer(&k)))
			}
		}
	}
	return func(v T) uint64 { return h(key(v)) }
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString is FNV-1a over the bytes, finished with mix64.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}
