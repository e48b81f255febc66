package stream_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// sideTag is the side output of sideThenPanic.
var sideTag = stream.NewOutputTag[int64]("side")

// emitThenPanic is an operator that emits each record (main output, side
// output or a batch, by how) and panics on the 100th, after the emit.
type emitThenPanic struct {
	how string // "main", "side", "batch" or "watermark"
	c   *stream.Context
	n   int
}

func (o *emitThenPanic) Open(c *stream.Context) error { o.c = c; return nil }

func (o *emitThenPanic) ProcessRecord(r stream.Record[int64], out stream.Emitter[int64]) error {
	var err error
	switch o.how {
	case "side":
		err = stream.Output(o.c, sideTag).Emit(r)
	case "batch":
		err = stream.EmitBatch(out, []stream.Record[int64]{r, r})
	default:
		err = out.Emit(r)
	}
	if err != nil {
		return err
	}
	if o.n++; o.n == 100 && o.how != "watermark" {
		panic("after emit")
	}
	return nil
}

func (o *emitThenPanic) ProcessWatermark(w stream.Time, out stream.Emitter[int64]) error {
	if o.how != "watermark" || w < 100 {
		return nil
	}
	if err := out.Emit(stream.At(int64(-1), w)); err != nil {
		return err
	}
	panic("after emit")
}

// TestPanicAfterEmitNamesItsNode: a panic in the code of a source or an
// operator that runs after a call into its output returned, with another
// operator run in between, is named after the source or operator whose
// code panicked, not after the operator that ran last.
func TestPanicAfterEmitNamesItsNode(t *testing.T) {
	t.Parallel()
	// user is an operator behind the one that panics, in the same chain:
	// it marks itself as the running node for each record.
	user := func(s stream.Stream[int64], name ...string) stream.Stream[int64] {
		return stream.Process(s, func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
			return out.Emit(r)
		}, stream.Name(append(name, "user")[0])).Stream
	}
	timed := func() []stream.Record[int64] {
		rs := make([]stream.Record[int64], 1000)
		for i := range rs {
			rs[i] = stream.At(int64(i), stream.Time(i))
		}
		return rs
	}
	sourceCases := map[string]stream.Source[int64]{
		"seq": stream.Seq(iter.Seq[int64](func(yield func(int64) bool) {
			for i := int64(0); ; i++ {
				if i == 100 {
					panic("seq")
				}
				if !yield(i) {
					return
				}
			}
		})),
		"source after emit": stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
			for i := range int64(100) {
				if err := out.Emit(stream.At(i, stream.Time(i))); err != nil {
					return err
				}
			}
			panic("source")
		}),
		"source after watermark": stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
			if err := out.Emit(stream.At(int64(1), 1)); err != nil {
				return err
			}
			if err := out.EmitWatermark(1); err != nil {
				return err
			}
			panic("source")
		}),
		"source after idle": stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
			if err := out.Emit(stream.At(int64(1), 1)); err != nil {
				return err
			}
			if err := out.MarkIdle(); err != nil {
				return err
			}
			panic("source")
		}),
		"source after await": stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
			if err := out.Emit(stream.At(int64(1), 1)); err != nil {
				return err
			}
			if err := out.Await(func() error { return nil }); err != nil {
				return err
			}
			panic("source")
		}),
		"source after flush": stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
			if err := out.Emit(stream.At(int64(1), 1)); err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
			panic("source")
		}),
	}
	for name, src := range sourceCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			s := stream.From(p, src, stream.Name("gen"))
			stream.To(user(stream.Map(s, func(x int64) int64 { return x })), stream.Discard[int64]())
			requirePanicIn(t, p, "gen")
		})
	}
	t.Run("timestamps", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		n := 0
		s := stream.From(p, stream.Slice(make([]int64, 1000)), stream.Name("gen"),
			stream.WithTimestamps(func(int64) time.Time {
				if n++; n == 100 {
					panic("timestamp")
				}
				return time.Unix(0, int64(n))
			}))
		stream.To(user(s), stream.Discard[int64]())
		requirePanicIn(t, p, "gen")
	})
	t.Run("process", func(t *testing.T) {
		t.Parallel()
		p := stream.New()
		n := 0
		s := stream.Process(stream.From(p, stream.Records(timed())), func(_ *stream.Context, r stream.Record[int64], out stream.Emitter[int64]) error {
			if err := out.Emit(r); err != nil {
				return err
			}
			if n++; n == 100 {
				panic("after emit")
			}
			return nil
		}, stream.Name("first")).Stream
		stream.To(user(s), stream.Discard[int64]())
		requirePanicIn(t, p, "first")
	})
	for _, how := range []string{"main", "side", "batch", "watermark"} {
		t.Run("operator/"+how, func(t *testing.T) {
			t.Parallel()
			p := stream.New()
			s := stream.From(p, stream.Records(timed()))
			s = stream.AssignWatermarks(s, stream.BoundedOutOfOrderness[int64](0))
			s = stream.Apply(s, func() stream.Operator[int64, int64] { return &emitThenPanic{how: how} }, stream.Name("first"))
			stream.To(user(s), stream.Discard[int64]())
			stream.To(user(stream.SideOutput(s, sideTag), "side-user"), stream.Discard[int64](), stream.Name("side-sink"))
			requirePanicIn(t, p, "first")
		})
	}
}

// requirePanicIn runs p and requires it to fail with a panic in the node
// named op.
func requirePanicIn(t *testing.T, p *stream.Pipeline, op string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Run(ctx)
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe, "%v", err)
	var oe *stream.OperatorError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, op, oe.Op, "%v", err)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}

// hooks is an operator and a sink whose Open, Close, Snapshot or Restore
// (by where) panics.
type hooks struct{ where string }

func (h *hooks) hook(where string) {
	if h.where == where {
		panic(where)
	}
}

func (h *hooks) Open(*stream.Context) error { h.hook("open"); return nil }
func (h *hooks) Close() error               { h.hook("close"); return nil }
func (h *hooks) Snapshot() ([]byte, error)  { h.hook("snapshot"); return nil, nil }
func (h *hooks) Restore([]byte) error       { h.hook("restore"); return nil }
func (h *hooks) ProcessRecord(r stream.Record[int64], out stream.Emitter[int64]) error {
	return out.Emit(r)
}
func (h *hooks) ProcessWatermark(stream.Time, stream.Emitter[int64]) error { return nil }
func (h *hooks) Write(context.Context, stream.Record[int64]) error         { return nil }

// TestPanicInHookNamesItsNode: a panic in the Open, Close, Snapshot or
// Restore of an operator or a sink is named after it. (A panic in Open or
// Restore was named after the exchange in front of it, one in Close
// "close"; Snapshot's was already right.)
func TestPanicInHookNamesItsNode(t *testing.T) {
	t.Parallel()
	for _, node := range []string{"operator", "sink"} {
		for _, where := range []string{"open", "close", "snapshot", "restore"} {
			t.Run(node+"/"+where, func(t *testing.T) {
				t.Parallel()
				store, err := stream.NewDirStore(t.TempDir())
				require.NoError(t, err)
				build := func(where string) *stream.Pipeline {
					p := stream.New(stream.WithCheckpoints(store, time.Millisecond))
					// a source that waits in Await now and then, so that
					// checkpoints complete while it runs
					src := stream.SourceFunc[int64](func(_ context.Context, out stream.SourceOutput[int64]) error {
						for i := range int64(3000) {
							if err := out.Emit(stream.At(i, stream.Time(i))); err != nil {
								return err
							}
							if i%100 == 0 {
								if err := out.Await(func() error { time.Sleep(time.Millisecond); return nil }); err != nil {
									return err
								}
							}
						}
						return nil
					})
					s := stream.KeyBy(stream.From(p, stream.Source[int64](src), stream.Name("gen")), func(x int64) int64 { return x }).Stream
					h := &hooks{}
					if node == "operator" {
						h.where = where
					}
					s = stream.Apply(s, func() stream.Operator[int64, int64] { return h }, stream.Name("operator"))
					sink := &hooks{}
					if node == "sink" {
						sink.where = where
					}
					stream.To(s, sink, stream.Name("sink"))
					return p
				}
				if where == "restore" {
					// a first run leaves the checkpoints the second restores
					require.NoError(t, build("").Run(context.Background()))
				}
				requirePanicIn(t, build(where), node)
			})
		}
	}
}
