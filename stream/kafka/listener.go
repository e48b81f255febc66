package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PartitionListener is told when partitions come to and leave a [Source], so
// that state kept per partition outside the pipeline moves with them: a
// store of per-partition partial results with the offset they cover (a
// changelog, as Kafka Streams keeps one), loaded when a partition arrives
// and written when it leaves. Set it with [OnPartitions].
//
// The calls are serialized with each other and come from the client's
// goroutines (from Run's goroutine for a source on fixed [Partitions] and at
// a normal end). PartitionsRevoked is never called while the source hands a
// poll's records downstream; PartitionsAssigned may be, but no record of
// the partitions it is given is fetched before it returns; PartitionsLost
// may come at any time. So an implementation shares its state with the
// pipeline's operators under a lock. After the run has failed or been
// cancelled the source calls no method any more, so a crash leaves the
// external state as the last call left it.
type PartitionListener interface {
	// PartitionsAssigned is called when partitions are assigned, before
	// any of their records is fetched, with the offset each would start
	// from (the group's committed offset, a restored checkpoint's, or the
	// start offset of a fixed partition). It returns the offsets to start
	// from: the map it was given, changed or not (use
	// kgo.NewOffset().At(n) for "the record at offset n next",
	// kgo.NewOffset().AtStart() for the log start). An error fails the
	// run.
	PartitionsAssigned(ctx context.Context, start map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error)
	// PartitionsRevoked is called when partitions leave the source in a
	// rebalance, and for every partition it still owns when it ends
	// normally (ExitWhenIdle, Stop). Every record of theirs that the
	// source polled has been emitted and out.Flush has returned (so a
	// sink chained behind the source has written it), and none follows.
	// It is called before the source commits their positions. An error
	// fails the run.
	PartitionsRevoked(ctx context.Context, revoked map[string][]int32) error
	// PartitionsLost is called when partitions were taken away without a
	// rebalance (the member's session expired): another member may own
	// them already, so state about them must be dropped, not written.
	PartitionsLost(ctx context.Context, lost map[string][]int32) error
}

// OnPartitions sets the source's [PartitionListener].
func OnPartitions(l PartitionListener) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.listener = l })
}
