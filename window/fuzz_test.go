package window_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// floorDiv returns floor(a/b) in exact arithmetic.
func floorDiv(a, b *big.Int) *big.Int {
	q, m := new(big.Int), new(big.Int)
	q.DivMod(a, b, m) // Euclidean: m >= 0, so q is the floor for b > 0
	return q
}

// FuzzWindows checks the tumbling and sliding assigners against exact
// (math/big) arithmetic over the whole int64 range: every window contains
// t, starts at k*slide+offset, has the size (unless clipped at the ends of
// time), and there are exactly as many as the aligned starts in (t-size, t].
func FuzzWindows(f *testing.F) {
	f.Add(int64(-1), int64(10), int64(10), int64(0))
	f.Add(int64(9), int64(10), int64(5), int64(3))
	f.Add(int64(-9223372036854775807), int64(3600e9), int64(60e9), int64(-7))
	f.Add(int64(9223372036854775806), int64(1000), int64(7), int64(6))
	f.Add(int64(0), int64(1), int64(1), int64(0))
	f.Fuzz(func(t *testing.T, tm, size, slide, offset int64) {
		if size <= 0 || slide <= 0 || tm == int64(stream.MaxTime) {
			return // MaxTime is the end-of-input watermark, not an event time
		}
		slide = slide%size + 1 // 1 <= slide <= size
		offset %= slide        // |offset| < slide
		a := window.Sliding(time.Duration(size), time.Duration(slide), window.Offset(time.Duration(offset)))
		if slide == size && tm%2 == 0 {
			a = window.Tumbling(time.Duration(size), window.Offset(time.Duration(offset)))
		}
		ws := a.Windows(stream.Time(tm))
		T, S, P, O := big.NewInt(tm), big.NewInt(size), big.NewInt(slide), big.NewInt(offset)
		// aligned starts in (t-S, t]: floor((t-O)/P) - floor((t-S-O)/P)
		hi := floorDiv(new(big.Int).Sub(T, O), P)
		lo := floorDiv(new(big.Int).Sub(new(big.Int).Sub(T, S), O), P)
		want := new(big.Int).Sub(hi, lo).Int64()
		if int64(len(ws)) != want {
			t.Fatalf("%v at %d: %d windows, want %d", a, tm, len(ws), want)
		}
		minT, maxT := big.NewInt(int64(stream.MinTime)), big.NewInt(int64(stream.MaxTime))
		for i, w := range ws {
			k := new(big.Int).Sub(hi, big.NewInt(int64(len(ws)-1-i)))
			start := new(big.Int).Add(new(big.Int).Mul(k, P), O)
			end := new(big.Int).Add(start, S)
			if start.Cmp(minT) < 0 {
				start = minT
			}
			if end.Cmp(maxT) > 0 {
				end = maxT
			}
			if start.Int64() != int64(w.Start) || end.Int64() != int64(w.End) {
				t.Fatalf("%v at %d: window %d is %v, want [%v, %v)", a, tm, i, w, start, end)
			}
			if !w.Contains(stream.Time(tm)) {
				t.Fatalf("%v: window %v does not contain %d", a, w, tm)
			}
		}
	})
}
