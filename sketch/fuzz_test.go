package sketch

import (
	"math"
	"strconv"
	"testing"
)

// The fuzz targets prove that UnmarshalBinary returns an error on arbitrary
// bytes instead of panicking or allocating without bound, and that whatever
// it accepts is a sketch every other method can use.

func FuzzHLLUnmarshal(f *testing.F) {
	for _, opts := range [][]HLLOption{nil, {WithSparse(false), WithPrecision(4)}, {WithPrecision(10)}} {
		for _, n := range []int{0, 3, 300} {
			h, _ := NewHLL(opts...)
			for i := range n {
				h.AddUint64(uint64(i))
			}
			data, _ := h.MarshalBinary()
			f.Add(data)
		}
	}
	f.Add([]byte{2, 14, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var h HLL
		if err := h.UnmarshalBinary(data); err != nil {
			return
		}
		est := h.Estimate()
		again, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted sketch does not marshal: %v", err)
		}
		var back HLL
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		if back.Estimate() != est {
			t.Fatalf("estimate %d after a round trip, want %d", back.Estimate(), est)
		}
		h.AddString("x")
		if err := h.Merge(&back); err != nil {
			t.Fatalf("merge with own round trip: %v", err)
		}
		_ = h.Estimate()
	})
}

func FuzzTopKUnmarshal(f *testing.F) {
	for _, capacity := range []int{1, 3, 50} {
		for _, n := range []int{0, 2, 200} {
			tk, _ := NewTopK(capacity)
			for i := range n {
				tk.Add(strconv.Itoa(i * i % 17))
			}
			data, _ := tk.MarshalBinary()
			f.Add(data)
		}
	}
	f.Add([]byte("BTK\x01\x02\x05\x01\x01a\x03\x00"))
	f.Add([]byte("BTK\x01\xff\xff\xff\xff\x0f\x00\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tk TopK
		if err := tk.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := tk.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted sketch does not marshal: %v", err)
		}
		var back TopK
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		if string(mustBytes(t, &back)) != string(again) {
			t.Fatal("the encoding of an accepted sketch is not stable")
		}
		for i := range 20 {
			tk.Add(strconv.Itoa(i % 5))
		}
		if tk.N() < math.MaxUint64/2 {
			if err := tk.Merge(&back); err != nil {
				t.Fatalf("merge with own round trip: %v", err)
			}
		}
		_ = tk.Top(3)
		if tk.Len() > tk.Capacity() {
			t.Fatalf("%d keys tracked with capacity %d", tk.Len(), tk.Capacity())
		}
	})
}

func FuzzQuantilesUnmarshal(f *testing.F) {
	for _, values := range [][]float64{nil, {0}, {1, 2, 3}, {-5, 0, 5, 1e300, 1e-300}} {
		q, _ := NewQuantiles()
		for _, v := range values {
			_ = q.Add(v)
		}
		data, _ := q.MarshalBinary()
		f.Add(data)
	}
	q, _ := NewQuantiles(WithRelativeAccuracy(MinRelativeAccuracy))
	_ = q.Add(1e-300)
	_ = q.Add(1e300)
	data, _ := q.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		var q Quantiles
		if err := q.UnmarshalBinary(data); err != nil {
			return
		}
		count := q.Count()
		again, err := q.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted sketch does not marshal: %v", err)
		}
		var back Quantiles
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		if back.Count() != count {
			t.Fatalf("count %v after a round trip, want %v", back.Count(), count)
		}
		if count > 0 {
			lo, _ := q.Min()
			hi, _ := q.Max()
			blo, _ := back.Min()
			bhi, _ := back.Max()
			if lo != blo || hi != bhi {
				t.Fatalf("bounds [%v, %v] after a round trip, want [%v, %v]", blo, bhi, lo, hi)
			}
		}
		for _, p := range []float64{0, 0.5, 0.99, 1} {
			if _, err := q.Quantile(p); err != nil && count > 0 {
				t.Fatalf("quantile %v of a non-empty sketch: %v", p, err)
			}
		}
		_ = q.Add(1)
		if err := q.Merge(&back); err != nil {
			t.Fatalf("merge with own round trip: %v", err)
		}
	})
}

func mustBytes(t *testing.T, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
