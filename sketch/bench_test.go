package sketch

import (
	"flag"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/axiomhq/hyperloglog"
)

var distinct10M = flag.Bool("distinct10m", false,
	"also run BenchmarkDistinctCount at 10M distinct users (the exact set needs ≈0.5 GB; run with -benchtime=1x)")

// userKeys returns n distinct user names.
func userKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i*7919)
	}
	return keys
}

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N)*float64(perOp)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkHLLAdd(b *testing.B) {
	const pool = 1 << 20
	keys := userKeys(pool)
	b.Run("string", func(b *testing.B) {
		h := mustHLL(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.AddString(keys[i&(pool-1)])
			i++
		}
		reportEvents(b, 1)
	})
	b.Run("bytes", func(b *testing.B) {
		h := mustHLL(b)
		buf := append(make([]byte, 0, 32), "user-"...)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.AddBytes(strconv.AppendInt(buf[:5], int64(i&(pool-1)), 10))
			i++
		}
		reportEvents(b, 1)
	})
	b.Run("uint64", func(b *testing.B) {
		h := mustHLL(b)
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			h.AddUint64(i)
			i++
		}
		reportEvents(b, 1)
	})
	b.Run("baseline/map[string]struct{}", func(b *testing.B) {
		set := make(map[string]struct{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			set[keys[i&(pool-1)]] = struct{}{}
			i++
		}
		reportEvents(b, 1)
	})
}

// BenchmarkHLLAddSmallSets adds to many small sketches, as a window
// aggregator does per key per window: a fresh sketch every n distinct keys.
// Beside ours: the library's own sparse mode, and an exact set.
func BenchmarkHLLAddSmallSets(b *testing.B) {
	const pool = 1 << 16
	keys := userKeys(pool)
	for _, n := range []int{10, 100, 1000} {
		b.Run("n="+strconv.Itoa(n)+"/hll", func(b *testing.B) {
			var h *HLL
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%n == 0 {
					h = mustHLL(b)
				}
				h.AddString(keys[i&(pool-1)])
				i++
			}
			reportEvents(b, 1)
		})
		b.Run("n="+strconv.Itoa(n)+"/axiomhq-sparse", func(b *testing.B) {
			var h *hyperloglog.Sketch
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%n == 0 {
					h = hyperloglog.New14()
				}
				h.InsertHash(hashString(keys[i&(pool-1)]))
				i++
			}
			reportEvents(b, 1)
		})
		b.Run("n="+strconv.Itoa(n)+"/baseline/map[string]struct{}", func(b *testing.B) {
			var set map[string]struct{}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%n == 0 {
					set = make(map[string]struct{})
				}
				set[keys[i&(pool-1)]] = struct{}{}
				i++
			}
			reportEvents(b, 1)
		})
	}
}

// BenchmarkHLLEstimate shows why the estimate is cached: computing a dense
// estimate walks all 2^p registers.
func BenchmarkHLLEstimate(b *testing.B) {
	h := mustHLL(b, WithSparse(false))
	for i := range uint64(1_000_000) {
		h.AddUint64(i)
	}
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			h.estValid = false
			_ = h.Estimate()
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			_ = h.Estimate()
		}
	})
}

func BenchmarkHLLMerge(b *testing.B) {
	x, y := mustHLL(b), mustHLL(b)
	for i := range uint64(1_000_000) {
		x.AddUint64(i)
		y.AddUint64(i + 500_000)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Merge(y)
	}
}

// BenchmarkHLLMergeSmall merges ten sparse HLLs of 250 keys each (keys
// shared between them as between the tracks of a window) into a new one,
// beside the union of their hashes in a map. "events" are the keys merged.
func BenchmarkHLLMergeSmall(b *testing.B) {
	const parts, per = 10, 250
	keys := userKeys(1 << 12)
	r := rand.New(rand.NewPCG(1, 2))
	hlls := make([]*HLL, parts)
	hashes := make([][]uint64, parts)
	for i := range hlls {
		hlls[i] = mustHLL(b)
		for hlls[i].Estimate() < per { // exact while sparse
			k, n := keys[r.IntN(len(keys))], hlls[i].Estimate()
			if hlls[i].AddString(k); hlls[i].Estimate() > n {
				hashes[i] = append(hashes[i], hashString(k))
			}
		}
	}
	union := map[uint64]struct{}{}
	for _, hs := range hashes {
		for _, x := range hs {
			union[x] = struct{}{}
		}
	}
	// check compares the estimate with the union once: a dense Estimate
	// costs more than the merges.
	checked := false
	check := func(h *HLL) {
		if checked {
			return
		}
		checked = true
		if got, want := float64(h.Estimate()), float64(len(union)); math.Abs(got-want) > 0.05*want {
			b.Fatalf("estimate %v of a union of %v", got, want)
		}
	}
	b.Run("hll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := mustHLL(b)
			for _, o := range hlls {
				if err := h.Merge(o); err != nil {
					b.Fatal(err)
				}
			}
			check(h)
		}
		reportEvents(b, parts*per)
	})
	b.Run("baseline/map[uint64]struct{}", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set := map[uint64]struct{}{}
			for _, hs := range hashes {
				for _, x := range hs {
					set[x] = struct{}{}
				}
			}
			if len(set) != len(union) {
				b.Fatal("wrong union")
			}
		}
		reportEvents(b, parts*per)
	})
}

// BenchmarkDistinctCount runs the distinct-count aggregator over one window
// of n events from n distinct users, beside an exact map[string]struct{},
// and reports the heap each holds at the end ("bytes").
func BenchmarkDistinctCount(b *testing.B) {
	sizes := []int{100_000, 1_000_000}
	if *distinct10M {
		sizes = append(sizes, 10_000_000)
	}
	// Users arrive as ids; both sides render the same key bytes.
	render := func(buf []byte, id uint64) []byte {
		return strconv.AppendUint(append(buf[:0], "user-"...), id*7919, 10)
	}
	heapDiff := func(b *testing.B, build func() any) float64 {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		held := build()
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(held)
		b.StartTimer()
		return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
	}
	for _, n := range sizes {
		name := "distinct=" + strconv.Itoa(n)
		b.Run(name+"/sketch", func(b *testing.B) {
			// The shared buffer is fine in one goroutine only; a pipeline's
			// key function must not share mutable state across instances.
			var buf []byte
			agg := DistinctCountBytes(func(id uint64) []byte { buf = render(buf, id); return buf })
			var bytes float64
			var est uint64
			b.ReportAllocs()
			for b.Loop() {
				bytes = heapDiff(b, func() any {
					acc := agg.New()
					for id := range uint64(n) {
						acc = agg.Add(acc, id)
					}
					est = agg.Result(acc)
					return acc
				})
			}
			reportEvents(b, n)
			b.ReportMetric(bytes, "bytes")
			b.ReportMetric(100*math.Abs(float64(est)-float64(n))/float64(n), "%err")
		})
		b.Run(name+"/baseline/exact-map", func(b *testing.B) {
			var buf []byte
			var bytes float64
			b.ReportAllocs()
			for b.Loop() {
				bytes = heapDiff(b, func() any {
					set := make(map[string]struct{})
					for id := range uint64(n) {
						buf = render(buf, id)
						set[string(buf)] = struct{}{}
					}
					return set
				})
			}
			reportEvents(b, n)
			b.ReportMetric(bytes, "bytes")
		})
	}
}

// zipfKeys returns n keys drawn from Zipf(1.1) over a million tracks.
func zipfKeys(n int) []string {
	r := rand.New(rand.NewPCG(1, 1))
	z := rand.NewZipf(r, 1.1, 1, 999_999)
	names := make(map[uint64]string)
	keys := make([]string, n)
	for i := range keys {
		v := z.Uint64()
		s, ok := names[v]
		if !ok {
			s = "track-" + strconv.FormatUint(v, 10)
			names[v] = s
		}
		keys[i] = s
	}
	return keys
}

func BenchmarkTopKAdd(b *testing.B) {
	const pool = 1 << 20
	keys := zipfKeys(pool)
	for _, capacity := range []int{100, 1000} {
		b.Run("capacity="+strconv.Itoa(capacity), func(b *testing.B) {
			tk, _ := NewTopK(capacity)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tk.Add(keys[i&(pool-1)])
				i++
			}
			reportEvents(b, 1)
		})
	}
	b.Run("baseline/exact-map", func(b *testing.B) {
		counts := make(map[string]uint64)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			counts[keys[i&(pool-1)]]++
			i++
		}
		reportEvents(b, 1)
	})
}

func BenchmarkTopKMerge(b *testing.B) {
	keys := zipfKeys(1 << 20)
	for _, capacity := range []int{100, 1000} {
		b.Run("capacity="+strconv.Itoa(capacity), func(b *testing.B) {
			x, _ := NewTopK(capacity)
			y, _ := NewTopK(capacity)
			for i, k := range keys {
				if i%2 == 0 {
					x.Add(k)
				} else {
					y.Add(k)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = x.Merge(y)
			}
		})
	}
}

func lognormalValues(n int) []float64 {
	r := rand.New(rand.NewPCG(2, 2))
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Exp(5.2 + 0.6*r.NormFloat64())
	}
	return v
}

func BenchmarkQuantilesAdd(b *testing.B) {
	const pool = 1 << 16
	values := lognormalValues(pool)
	b.Run("quantiles", func(b *testing.B) {
		q := mustQuantiles(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = q.Add(values[i&(pool-1)])
			i++
		}
		reportEvents(b, 1)
	})
	b.Run("ddsketch-dense-store", func(b *testing.B) {
		// The alternative store: faster adds, but memory spans the value range.
		d, _ := ddsketch.LogUnboundedDenseDDSketch(DefaultRelativeAccuracy)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = d.Add(values[i&(pool-1)])
			i++
		}
		reportEvents(b, 1)
	})
	b.Run("baseline/exact-slice", func(b *testing.B) {
		// Exact quantiles keep every value (and sort them at query time).
		var all []float64
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			all = append(all, values[i&(pool-1)])
			i++
		}
		if len(all) != i {
			b.Fatal("lost values")
		}
		reportEvents(b, 1)
	})
}

func BenchmarkQuantilesMerge(b *testing.B) {
	values := lognormalValues(200_000)
	x, y := mustQuantiles(b), mustQuantiles(b)
	for i, v := range values {
		if i%2 == 0 {
			_ = x.Add(v)
		} else {
			_ = y.Add(v)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Merge(y)
	}
}

func BenchmarkQuantilesQuantile(b *testing.B) {
	q := mustQuantiles(b)
	for _, v := range lognormalValues(100_000) {
		_ = q.Add(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = q.Quantile(0.95)
	}
}
