package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

type passOp struct{}

func (passOp) ProcessRecord(r stream.Record[int], out stream.Emitter[int]) error { return out.Emit(r) }
func (passOp) ProcessWatermark(stream.Time, stream.Emitter[int]) error           { return nil }

func pass(_ *stream.Context, r stream.Record[int], out stream.Emitter[int]) error { return out.Emit(r) }

// TestNameEveryOperator gives one Name option value to every operator
// constructor of package stream.
func TestNameEveryOperator(t *testing.T) {
	t.Parallel()
	p := stream.New()
	src := stream.From(p, stream.Slice([]int{1, 2, 3}), stream.Name("src"))
	m := stream.Map(src, func(v int) int { return v }, stream.Name("m"))
	f := stream.Filter(m, func(int) bool { return true }, stream.Name("f"))
	fm := stream.FlatMap(f, func(v int, emit func(int) error) error { return emit(v) }, stream.Name("fm"))
	pr := stream.Process(fm, pass, stream.Name("pr"))
	ap := stream.Apply(pr.Stream, func() stream.Operator[int, int] { return passOp{} }, stream.Name("ap"))
	wm := stream.AssignWatermarks(ap, stream.BoundedOutOfOrderness[int](0), stream.Name("wm"))
	kb := stream.KeyBy(wm, func(v int) int { return v }, stream.Name("kb"), stream.Parallelism(2))
	rb := stream.Rebalance(kb.Stream, stream.Name("rb"))
	un := stream.Union([]stream.Stream[int]{rb}, stream.Name("un"))
	cn := stream.Connect(un, src, func(v int) int { return v }, func(v int) int { return v }, stream.Name("cn"))
	sink := stream.Collect[stream.Either[int, int]]()
	stream.To(cn.Stream, sink, stream.Name("out"))

	for want, s := range map[string]interface{ Name() string }{
		"src": src, "m": m, "f": f, "fm": fm, "pr": pr, "ap": ap, "wm": wm,
		"kb": kb, "rb": rb, "un": un, "cn": cn,
	} {
		assert.Equal(t, want, s.Name())
	}
	require.NoError(t, p.Run(context.Background()))
	assert.Len(t, sink.Values(), 6)
}

// A name is a value of one unnamed type, so it can be kept and given to
// operators of different kinds.
func TestNameValueReused(t *testing.T) {
	t.Parallel()
	p := stream.New()
	n := stream.Name("same")
	s := stream.From(p, stream.Slice([]int{1}), n)
	stream.To(stream.Map(s, func(v int) int { return v }, n), stream.Discard[int]())
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrInvalid)
	assert.Contains(t, err.Error(), `duplicate operator name "same"`)
}

func TestDefaultNames(t *testing.T) {
	t.Parallel()
	p := stream.New(stream.WithParallelism(2))
	a := stream.From(p, stream.Slice([]int{1}))
	b := stream.From(p, stream.Slice([]int{1}))
	assert.Equal(t, "source", a.Name())
	assert.Equal(t, "source#2", b.Name(), "unnamed sources are numbered in the order they were added")

	m1 := stream.Map(a, func(v int) int { return v })
	m2 := stream.Map(a, func(v int) int { return v })
	assert.Equal(t, "source.map", m1.Name())
	assert.Equal(t, "source.map#2", m2.Name(), "a second map of the same stream")
	k := stream.KeyBy(stream.Filter(m1, func(int) bool { return true }), func(v int) int { return v })
	assert.Equal(t, "source.map.filter.keyby", k.Name())
	assert.Equal(t, "source#2.rebalance", stream.Rebalance(b).Name())
	assert.Equal(t, "source.map#2.process", stream.Process(m2, pass).Name())
	assert.Equal(t, "source.map#2.operator", stream.Apply(m2, func() stream.Operator[int, int] { return passOp{} }).Name())
	assert.Equal(t, "source.map#2.watermarks", stream.AssignWatermarks(m2, stream.BoundedOutOfOrderness[int](0)).Name())
	assert.Equal(t, "source.map#2.flatmap", stream.FlatMap(m2, func(int, func(int) error) error { return nil }).Name())
	assert.Equal(t, "source.union", stream.Union([]stream.Stream[int]{a, b}).Name())
	c := stream.Connect(a, b, func(v int) int { return v }, func(v int) int { return v })
	assert.Equal(t, "source.connect", c.Name())

	named := stream.Map(b, func(v int) int { return v }, stream.Name("plays"))
	assert.Equal(t, "plays.filter", stream.Filter(named, func(int) bool { return true }).Name(),
		"a name pins the default names downstream")
	require.NoError(t, p.Run(context.Background()))
}

// Adding operators elsewhere in the pipeline, even of the same kinds, does
// not change a default name; only operators upstream or beside it do.
func TestDefaultNamesStableUnderUnrelatedInsertions(t *testing.T) {
	t.Parallel()
	build := func(extra bool) []string {
		p := stream.New()
		plays := stream.From(p, stream.Slice([]int{1}), stream.Name("plays"))
		if extra {
			// an unrelated branch, declared first, with every kind of operator
			other := stream.From(p, stream.Slice([]int{2}), stream.Name("other"))
			o := stream.KeyBy(stream.Map(other, func(v int) int { return v }), func(v int) int { return v })
			stream.To(stream.Filter(o.Stream, func(int) bool { return true }), stream.Discard[int]())
		}
		k := stream.KeyBy(stream.Map(plays, func(v int) int { return v }), func(v int) int { return v })
		f := stream.Filter(k.Stream, func(int) bool { return true })
		return []string{k.Name(), f.Name()}
	}
	assert.Equal(t, build(false), build(true))
	assert.Equal(t, []string{"plays.map.keyby", "plays.map.keyby.filter"}, build(false))
}

func TestInvalidNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc  string
		build func(p *stream.Pipeline)
		msg   string
	}{
		{"empty", func(p *stream.Pipeline) {
			stream.To(stream.From(p, stream.Slice([]int{1}), stream.Name("")), stream.Discard[int]())
		}, "empty operator name"},
		{"slash", func(p *stream.Pipeline) {
			s := stream.From(p, stream.Slice([]int{1}))
			stream.To(s, stream.Discard[int](), stream.Name("a/b"))
		}, `operator name "a/b" contains '/'`},
		{"duplicate", func(p *stream.Pipeline) {
			s := stream.From(p, stream.Slice([]int{1}), stream.Name("x"))
			stream.To(stream.KeyBy(s, func(v int) int { return v }, stream.Name("x")).Stream, stream.Discard[int]())
		}, `duplicate operator name "x"`},
		{"duplicate sink", func(p *stream.Pipeline) {
			s := stream.From(p, stream.Slice([]int{1}))
			stream.To(s, stream.Discard[int](), stream.Name("out"))
			stream.To(s, stream.Discard[int](), stream.Name("out"))
		}, `duplicate operator name "out"`},
		{"a default name taken", func(p *stream.Pipeline) {
			s := stream.From(p, stream.Slice([]int{1}))
			stream.To(stream.Map(s, func(v int) int { return v }), stream.Discard[int](), stream.Name("source.map"))
		}, `operator name "source.map" is the default name of an earlier unnamed operator`},
		{"nil option", func(p *stream.Pipeline) {
			stream.To(stream.Map(stream.From(p, stream.Slice([]int{1})), func(v int) int { return v }, nil), stream.Discard[int]())
		}, "nil option"},
		{"converted option", func(p *stream.Pipeline) {
			// Only a conversion gets an option to an operator of another kind.
			s := stream.From(p, stream.Slice([]int{1}))
			stream.To(s, stream.Discard[int](), stream.SinkOption(stream.Parallelism(2)))
		}, "given to an operator of another kind (sink)"},
		{"source option of another type", func(p *stream.Pipeline) {
			ts := stream.WithTimestamps(func(string) time.Time { return time.Time{} })
			stream.To(stream.From(p, stream.Slice([]int{1}), stream.SourceOption[int](ts)), stream.Discard[int]())
		}, "given to an operator of another kind (source)"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := stream.New()
			tc.build(p)
			err := p.Run(context.Background())
			require.ErrorIs(t, err, stream.ErrInvalid)
			assert.True(t, strings.Contains(err.Error(), tc.msg), "%q does not say %q", err, tc.msg)
		})
	}
}
