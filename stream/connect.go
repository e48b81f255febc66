package stream

import "fmt"

// Either holds a record of one of two connected streams: Left when IsRight
// is false, Right otherwise.
type Either[A, B any] struct {
	Left    A
	Right   B
	IsRight bool
}

// Connect brings two streams of different types together, partitioned by a
// common key: records of a and b with the same key reach the same parallel
// instance (by key group, as with [KeyBy]), as Either values, through one exchange. The watermark downstream
// is the minimum over both inputs (leaving out idle ones), which is what
// two-input operators such as joins need. Its default name is a's name and
// ".connect" (see [Name]); the operators turning a's and b's records into
// Either values are named after it, with ".left" and ".right".
func Connect[A, B any, K comparable](a Stream[A], b Stream[B], keyA func(A) K, keyB func(B) K, opts ...ExchangeOption) KeyedStream[K, Either[A, B]] {
	p := a.must().p
	if b.must().p != p {
		p.failf("connect: streams of different pipelines")
	}
	if keyA == nil || keyB == nil {
		name := p.opName(a.o.name, Configure("connect", &exchangeConfig{}, opts))
		p.failf("%s: nil key function", name)
		return KeyedStream[K, Either[A, B]]{Stream: Stream[Either[A, B]]{o: newOutlet[Either[A, B]](p, name, 1)}}
	}
	key := func(e Either[A, B]) K {
		if e.IsRight {
			return keyB(e.Right)
		}
		return keyA(e.Left)
	}
	h, err := StableHash[K]()
	if err != nil {
		p.fail(fmt.Errorf("connect: %w", err))
		h = func(K) uint64 { return 0 }
	}
	x := newExchange(p, a.o.name, "connect", p.cfg.parallelism, func(e Either[A, B]) uint64 { return h(key(e)) }, opts)
	x.attach(Map(a, func(v A) Either[A, B] { return Either[A, B]{Left: v} }, Name(x.name+".left")))
	x.attach(Map(b, func(v B) Either[A, B] { return Either[A, B]{Right: v, IsRight: true} }, Name(x.name+".right")))
	return KeyedStream[K, Either[A, B]]{Stream: Stream[Either[A, B]]{o: x.down}, Key: key, hash: h}
}
