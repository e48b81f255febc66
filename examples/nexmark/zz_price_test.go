package main

import (
	"math"
	"testing"
)

func BenchmarkEventTmp(b *testing.B) {
	g, _ := NewGenerator(DefaultGeneratorConfig())
	q := g.Sequence()
	var n int64
	for b.Loop() {
		e := q.Event(n)
		n++
		_ = e
	}
}
func TestPriceTmp(t *testing.T) {
	r := rng{s: 1}
	worst := 0.0
	for range 1000000 {
		r2 := r
		a := price(&r)
		u := float64(r2.next()>>11) / (1 << 53)
		b := math.Pow(10, 2+6*u)
		worst = max(worst, math.Abs(float64(a)-b)/b)
	}
	t.Log("worst", worst, priceTable[0], priceTable[4096]>>20)
}
