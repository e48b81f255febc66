package enrich_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// TestOneNameOption names windows, joins and lookups with stream.Name, the
// option every operator takes, and checks their default names.
func TestOneNameOption(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(2))
	recs := []stream.Record[ev]{stream.At(ev{ID: 1, Key: 1}, 10), stream.At(ev{ID: 2, Key: 1}, 20)}
	a := stream.From(p, stream.Records(recs), stream.Name("a"))
	b := stream.From(p, stream.Records(recs), stream.Name("b"))
	k := stream.KeyBy(a, evKey)

	counts := func(s stream.Stream[ev]) window.Windowed[int, ev, int64] {
		return window.Aggregate(stream.KeyBy(s, evKey), window.Tumbling(100), window.Count[ev]())
	}
	named := window.Aggregate(k, window.Tumbling(100), window.Count[ev](), stream.Name("counts"), window.AllowedLateness(5))
	processed := window.Process(k, window.Sliding(100, 50), func(int, window.Span, []stream.Record[ev]) int { return 0 }, stream.Name("proc"))
	lookup := enrich.Lookup(a, enrich.NewMapTable(map[int]string{1: "one"}), evKey, func(e ev, s string) string { return s }, stream.Name("titles"))
	ij := enrich.IntervalJoin(a, b, evKey, evKey, -10, 10, func(x, y ev) pair { return pair{x.ID, y.ID, 0} }, stream.Name("ij"))
	wj := enrich.WindowJoin(a, b, evKey, evKey, window.Tumbling(100), func(x, y ev) pair { return pair{x.ID, y.ID, 0} },
		stream.Name("wj"), enrich.JoinExchange(stream.Name("wj-exchange"), stream.Parallelism(1)))
	assert.Equal(t, "counts", named.Name())
	assert.Equal(t, "proc", processed.Name())
	assert.Equal(t, "titles", lookup.Name())
	assert.Equal(t, "ij", ij.Name())
	assert.Equal(t, "wj.flatmap", wj.Name(), "a window join's output is its results flattened")

	// Default names: the assigner for a window, the kind for joins and lookups.
	assert.Equal(t, "a.keyby.tumbling(100ns)", window.Aggregate(k, window.Tumbling(100), window.Count[ev]()).Name())
	assert.Equal(t, "b.keyby.tumbling(100ns)", counts(b).Name())
	assert.Equal(t, "a.keyby.session(5ns)",
		window.Process(k, window.Session(5), func(int, window.Span, []stream.Record[ev]) int { return 0 }).Name())
	assert.Equal(t, "a.lookup", enrich.Lookup(a, enrich.NewMapTable(map[int]string{}), evKey, func(e ev, s string) string { return s }, enrich.DropMissing()).Name())
	assert.Equal(t, "a.connect.interval-join", enrich.IntervalJoin(a, b, evKey, evKey, -10, 10, func(x, y ev) pair { return pair{} }).Name())
	assert.Equal(t, "a.connect#2.window-join.flatmap", enrich.WindowJoin(a, b, evKey, evKey, window.Tumbling(10), func(x, y ev) pair { return pair{} }).Name())

	for _, s := range []stream.Stream[window.Result[int, int64]]{named.Stream} {
		stream.To(s, stream.Discard[window.Result[int, int64]]())
	}
	stream.To(lookup.Stream, stream.Discard[string]())
	ijOut := stream.Collect[pair]()
	stream.To(ij.Stream, ijOut)
	require.NoError(t, p.Run(context.Background()))
	assert.Len(t, ijOut.Values(), 4)
}

func TestDuplicateWindowName(t *testing.T) {
	t.Parallel()
	p := stream.New()
	k := stream.KeyBy(stream.From(p, stream.Records([]stream.Record[ev]{stream.At(ev{}, 1)})), evKey)
	window.Aggregate(k, window.Tumbling(100), window.Count[ev](), stream.Name("w"))
	enrich.Lookup(k.Stream, enrich.NewMapTable(map[int]int{}), evKey, func(e ev, v int) int { return v }, stream.Name("w"))
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	assert.Contains(t, err.Error(), `duplicate operator name "w"`)
}
