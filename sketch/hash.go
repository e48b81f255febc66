package sketch

import (
	"unsafe"

	metro "github.com/dgryski/go-metro"
)

// metroSeed is the seed github.com/axiomhq/hyperloglog uses in Sketch.Insert
// (its serialization version 2 pins it), so HLL.AddBytes(b) puts b in the same
// register as the library's own Insert(b).
const metroSeed = 1337

// hashBytes is the 64-bit hash of b used for every byte and string key.
func hashBytes(b []byte) uint64 { return metro.Hash64(b, metroSeed) }

// hashString hashes s exactly like hashBytes([]byte(s)), without copying:
// the hash only reads its input.
func hashString(s string) uint64 {
	return metro.Hash64(unsafe.Slice(unsafe.StringData(s), len(s)), metroSeed)
}

// hashUint64 spreads an integer key over all 64 bits: one splitmix64 step
// (add the golden-ratio increment, then the Stafford "mix13" finalizer). It is
// a bijection, so distinct integers never collide, and 0 does not map to 0.
// Raw integers must never go to HyperLogLog unmixed: their high bits, which
// pick the register, are all zero for small keys.
func hashUint64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
