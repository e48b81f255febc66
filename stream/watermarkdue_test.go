package stream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
)

// dueOp is a user operator with a WatermarkDue: every 10 units of event
// time it emits a tick, from ProcessWatermark; every third record it emits
// the watermark it holds.
type dueOp struct {
	due, wm stream.Time
	calls   int // ProcessWatermark calls
	below   int // of them below due: the runtime should have skipped them
}

var _ stream.WatermarkDue = (*dueOp)(nil)

func (o *dueOp) WatermarkDue() (due, passed *stream.Time) { return &o.due, &o.wm }

func (o *dueOp) ProcessRecord(r stream.Record[int64], out stream.Emitter[wmProbe]) error {
	if r.Time%3 != 0 {
		return nil
	}
	return out.Emit(stream.At(wmProbe{At: r.Time, WM: o.wm}, r.Time))
}

func (o *dueOp) ProcessWatermark(w stream.Time, out stream.Emitter[wmProbe]) error {
	o.calls++
	if w == stream.MaxTime { // the end of input: no more ticks
		o.wm = w
		return nil
	}
	if w < o.due {
		o.below++
		o.wm = w
		return nil
	}
	o.wm = w
	for ; o.due <= w; o.due += 10 {
		if err := out.Emit(stream.At(wmProbe{Timer: true, At: o.due, WM: w}, o.due)); err != nil {
			return err
		}
	}
	return nil
}

// TestWatermarkDue: the runtime calls ProcessWatermark of an operator with
// a WatermarkDue only for watermarks at or past *due, raises *passed for
// the others, and forwards them so that every output arrives right behind
// the watermark the operator held when it emitted it, and a tick before
// the watermark that made it; whatever the batch size.
func TestWatermarkDue(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 3, 64, 1024} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			const n = 3000
			p := stream.New(stream.WithBatchSize(batch))
			src := stream.From(p, stream.Generate(n, func(i int64) stream.Record[int64] {
				return stream.At(i%5, stream.Time(i/2*2))
			}), stream.WithWatermarks(stream.BoundedOutOfOrderness[int64](3)))
			k := stream.KeyBy(src, func(v int64) int64 { return v }, stream.Parallelism(1))
			op := &dueOp{wm: stream.MinTime}
			out := stream.Apply(k.Stream, func() stream.Operator[int64, wmProbe] { return op })
			sink := &probeSink{last: stream.MinTime}
			stream.To(out, sink)
			require.NoError(t, p.Run(context.Background()))
			ticks := 0
			for i, s := range sink.sent {
				seen := sink.seen[i]
				if !s.Timer {
					require.Equal(t, s.WM, seen.WM, "record at %v", s.At)
					continue
				}
				ticks++
				require.GreaterOrEqual(t, s.WM, s.At, "tick at %v early", s.At)
				require.Less(t, seen.WM, s.At, "tick at %v behind its watermark", s.At)
			}
			require.Equal(t, 300, ticks, "a tick every 10 up to the last watermark, 2994")
			require.Zero(t, op.below, "calls below due")
			require.Equal(t, ticks+1, op.calls, "a call per tick, and the end of input")
		})
	}
}
