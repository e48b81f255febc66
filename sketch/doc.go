// Package sketch holds small, mergeable, serializable summaries of a stream:
// they make unique-listener counts, leaderboards and latency percentiles cost
// kilobytes instead of memory that grows with the stream.
//
//   - [HLL] counts distinct keys (HyperLogLog, on github.com/axiomhq/hyperloglog).
//     At the default precision 14 it counts up to 1024 keys exactly, then
//     holds 16 KiB of registers with a relative standard error of
//     1.04/√16384 ≈ 0.81 %.
//   - [TopK] finds the heavy hitters of a stream of string keys (Space-Saving):
//     every reported count overestimates the true count by at most N/capacity,
//     also after merges, and the error of each item is tracked.
//   - [Quantiles] answers quantile queries with a relative error guarantee
//     (DDSketch, on github.com/DataDog/sketches-go), 1 % by default.
//
// Every sketch has Merge, which combines two sketches into a sketch of the
// union of their streams, and MarshalBinary/UnmarshalBinary. UnmarshalBinary
// validates its input: on malformed bytes it returns an error wrapping
// [ErrCorrupt] and leaves the receiver unchanged. It never panics, and what
// it allocates is bounded by the input's length (for Quantiles also by the
// index range of its mapping: a hostile input can make it allocate about
// 20 MiB at the finest accuracy accepted, 0.1 %, and 2 MiB at 1 %), never
// by a length prefix alone.
//
// # Aggregators
//
// [DistinctCount], [DistinctCountUint64], [DistinctCountBytes], [TopKOf] and
// [QuantilesOf] return aggregators of Flink's AggregateFunction shape
// (New, Add, Merge, Result). They satisfy the window package's
// Aggregator[In, Acc, Out] interface structurally; this package imports no
// other brook package and can be used on its own:
//
//	listeners := sketch.DistinctCount(func(p Play) string { return p.UserID })
//	acc := listeners.New()
//	for _, p := range plays {
//		acc = listeners.Add(acc, p)
//	}
//	fmt.Println(listeners.Result(acc)) // ≈ distinct users
//
// # Concurrency
//
// No sketch is safe for concurrent use, not even for reads: HLL.Estimate
// fills a cache and the underlying library compacts its sparse state when it
// estimates. The model is one sketch per parallel instance (per goroutine,
// per key, per window), merged: the instances each build their own sketch and
// a single owner merges them, in-process with Merge or across processes by
// shipping MarshalBinary bytes (or through Redis, see package sketch/redis).
//
// # Reproducibility
//
// Hashes are fixed: strings and bytes go through MetroHash64 with seed 1337
// (the hash axiomhq's own Insert uses), integers through the splitmix64
// finalizer. A key therefore lands in the same register in every process and
// every run, which is what makes sketches from different processes mergeable.
package sketch
