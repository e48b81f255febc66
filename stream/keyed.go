package stream

import (
	"hash/maphash"
	"reflect"
	"unsafe"
)

// KeyedStream is a stream partitioned by key: every record with the same key
// goes to the same parallel instance downstream, which owns the state for its
// keys.
type KeyedStream[K comparable, T any] struct {
	Stream[T]
	// Key extracts a record's key.
	Key func(T) K
}

// KeyBy partitions s by key into Parallelism instances (default: the
// pipeline's parallelism), through an exchange. Keys are hashed with a
// hash that is stable across processes for string and integer keys, so the
// same key lands on the same instance index everywhere.
func KeyBy[T any, K comparable](s Stream[T], key func(T) K, opts ...ExchangeOption) KeyedStream[K, T] {
	in := s.must()
	if key == nil {
		in.p.failf("keyby: nil key function")
		key = func(T) K { var k K; return k }
	}
	hash := keyHasher(key, in.p.seed)
	out := exchange(s, "keyby", in.p.cfg.parallelism, hash, opts...)
	return KeyedStream[K, T]{Stream: out, Key: key}
}

// Rebalance spreads s round-robin over Parallelism instances (default: the
// pipeline's parallelism), through an exchange.
func Rebalance[T any](s Stream[T], opts ...ExchangeOption) Stream[T] {
	return exchange(s, "rebalance", s.must().p.cfg.parallelism, nil, opts...)
}

// Union merges streams of the same type into one stream with one instance
// (use Rebalance or KeyBy after it to spread again). Its watermark is the
// minimum over all its inputs' instances, leaving out idle ones.
func Union[T any](first Stream[T], rest ...Stream[T]) Stream[T] {
	p := first.must().p
	x := newExchange[T](p, "union", nil, []ExchangeOption{Parallelism(1)})
	x.attach(first)
	for _, s := range rest {
		if s.must().p != p {
			p.failf("union: streams of different pipelines")
			continue
		}
		x.attach(s)
	}
	return Stream[T]{o: x.down}
}

// keyHasher returns key's hash of a value, with the hash of the common key
// kinds inlined: one call per record less on the exchange's hot path.
func keyHasher[T any, K comparable](key func(T) K, seed maphash.Seed) func(T) uint64 {
	var zero K
	switch reflect.TypeOf(zero).Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
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
	h := hasherFor[K](seed)
	return func(v T) uint64 { return h(key(v)) }
}

// hasherFor picks a fast, process-independent hash for string and integer
// keys, and maphash.Comparable (with the pipeline's seed) for other key types.
func hasherFor[K comparable](seed maphash.Seed) func(K) uint64 {
	var zero K
	switch reflect.TypeOf(zero).Kind() {
	case reflect.String:
		return func(k K) uint64 { return hashString(*(*string)(unsafe.Pointer(&k))) }
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return func(k K) uint64 { return mix64(*(*uint64)(unsafe.Pointer(&k))) }
	case reflect.Int32, reflect.Uint32:
		return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k)))) }
	case reflect.Int16, reflect.Uint16:
		return func(k K) uint64 { return mix64(uint64(*(*uint16)(unsafe.Pointer(&k)))) }
	case reflect.Int8, reflect.Uint8, reflect.Bool:
		return func(k K) uint64 { return mix64(uint64(*(*uint8)(unsafe.Pointer(&k)))) }
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
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
