package enrich

import (
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/window"
)

// WindowJoin joins, per window, the records of stream a with the records of
// stream b that have the same key and fall in the same window of the
// assigner (tumbling, sliding, session or global; event or processing time,
// as package window defines them): when a window fires, every pair (x, y) of
// its a-records x and b-records y yields join(x, y), at the window's last
// instant End-1, before the watermark that fired it travels on. It is an
// inner join: a window with records of only one side yields nothing.
//
// Session windows are formed over the records of both inputs together, so a
// record of either side extends its key's session. Pairs come out a-record
// by a-record, each with the b-records in arrival order (for merged sessions,
// the earlier session's records first).
//
// Both inputs are partitioned by key through one exchange
// ([stream.Connect]); the join's watermark is the minimum of both inputs'
// watermarks, leaving out an idle input. The windows keep the raw records of
// both sides until they fire (see [window.Process]). A record whose windows
// had all fired when it arrived goes to [Joined.Late]. Assigner mistakes
// (a non-positive size, ...) are returned by Run, as [window.ErrInvalid].
func WindowJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, assigner window.Assigner, join func(A, B) Out, opts ...JoinOption) Joined[A, B, Out] {
	cfg := newJoinConfig("window-join", opts)
	ks := stream.Connect(a, b, keyA, keyB, cfg.exchange...)
	var fn window.ProcessFunc[K, stream.Either[A, B], []Out]
	if join != nil { // nil: window.Process reports it
		fn = func(_ K, _ window.Span, recs []stream.Record[stream.Either[A, B]]) []Out {
			nb := 0
			for _, r := range recs {
				if r.Value.IsRight {
					nb++
				}
			}
			if nb == 0 || nb == len(recs) {
				return nil
			}
			out := make([]Out, 0, (len(recs)-nb)*nb)
			for _, x := range recs {
				if x.Value.IsRight {
					continue
				}
				for _, y := range recs {
					if y.Value.IsRight {
						out = append(out, join(x.Value.Left, y.Value.Right))
					}
				}
			}
			return out
		}
	}
	w := window.Process(ks, assigner, fn, window.Option(cfg.op.As("window-join")))
	out := stream.FlatMap(w.Stream, func(r window.Result[K, []Out], emit func(Out) error) error {
		for _, v := range r.Value {
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
	late := func() stream.Stream[stream.Either[A, B]] {
		return stream.Map(w.Late(), func(l window.LateRecord[stream.Either[A, B]]) stream.Either[A, B] { return l.Record.Value })
	}
	return Joined[A, B, Out]{Stream: out, late: late}
}
