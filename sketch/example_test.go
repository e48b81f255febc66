package sketch_test

import (
	"fmt"
	"math"
	"strconv"

	"github.com/brook-streams/brook/sketch"
)

func ExampleHLL() {
	// One sketch per parallel instance…
	east, _ := sketch.NewHLL()
	west, _ := sketch.NewHLL()
	for i := range 3000 {
		east.AddString("user-" + strconv.Itoa(i%600)) // users 0..599, repeated
	}
	for i := range 500 {
		west.AddString("user-" + strconv.Itoa(500+i)) // users 500..999
	}
	fmt.Println("east:", east.Estimate())
	fmt.Println("west:", west.Estimate())

	// Small sketches count exactly (up to 1024 keys at precision 14);
	// beyond, the error is about 0.81 %.

	// …shipped as bytes and merged by one owner.
	data, _ := west.MarshalBinary()
	var received sketch.HLL
	if err := received.UnmarshalBinary(data); err != nil {
		panic(err)
	}
	if err := east.Merge(&received); err != nil {
		panic(err)
	}
	fmt.Println("both:", east.Estimate())
	// Output:
	// east: 600
	// west: 500
	// both: 1000
}

func ExampleTopK() {
	top, _ := sketch.NewTopK(3) // 3 counters: errors up to N/3
	for _, track := range []string{
		"wolf", "moon", "wolf", "howl", "wolf", "moon", "dusk", "wolf", "moon", "pack",
	} {
		top.Add(track)
	}
	for _, it := range top.Top(2) {
		fmt.Printf("%s: between %d and %d plays\n", it.Key, it.Count-it.Err, it.Count)
	}
	fmt.Println("any untracked track has at most", top.Bound(), "plays")
	// Output:
	// wolf: between 4 and 4 plays
	// moon: between 3 and 3 plays
	// any untracked track has at most 3 plays
}

func ExampleQuantiles() {
	listen, _ := sketch.NewQuantiles() // 1 % relative accuracy
	for s := 1; s <= 1000; s++ {
		_ = listen.Add(float64(s)) // listen times 1..1000 s
	}
	for _, p := range []float64{0.5, 0.95} {
		v, _ := listen.Quantile(p)
		exact := float64(int(p*999) + 1)
		fmt.Printf("p%.0f ≈ %.1f s (exact %.0f, within 1%%: %v)\n", 100*p, v, exact, math.Abs(v-exact) <= 0.01*exact)
	}
	// Output:
	// p50 ≈ 497.8 s (exact 500, within 1%: true)
	// p95 ≈ 944.0 s (exact 950, within 1%: true)
}

type play struct {
	user  string
	track string
}

func ExampleDistinctCount() {
	listeners := sketch.DistinctCount(func(p play) string { return p.user })

	// Two parallel instances aggregate their share of one window…
	a, b := listeners.New(), listeners.New()
	a = listeners.Add(a, play{"ana", "wolf"})
	a = listeners.Add(a, play{"bo", "wolf"})
	a = listeners.Add(a, play{"ana", "moon"})
	b = listeners.Add(b, play{"cy", "wolf"})
	b = listeners.Add(b, play{"bo", "dusk"})

	// …and the window's result merges them.
	fmt.Println(listeners.Result(listeners.Merge(a, b)), "unique listeners")
	// Output: 3 unique listeners
}
