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
// inner join: a window with records of only one side yields nothing
// ([WindowLeftJoin], [WindowRightJoin] and [WindowFullJoin] report them).
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
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, _, _ bool) Out { return join(x, y) }
	}
	return windowJoin(a, b, keyA, keyB, assigner, fn, false, false, opts)
}

// WindowLeftJoin is the left-outer [WindowJoin]: when a window fires, every
// pair (x, y) yields join(x, y, true) as in [WindowJoin], and if the window
// has no b-record, each of its a-records x yields join(x, zero B, false),
// at the same time End-1. A record of a sliding window's several windows is
// joined, or reported unmatched, per window.
func WindowLeftJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, assigner window.Assigner, join func(a A, b B, matched bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, _, hasB bool) Out { return join(x, y, hasB) }
	}
	return windowJoin(a, b, keyA, keyB, assigner, fn, true, false, opts)
}

// WindowRightJoin is the right-outer [WindowJoin], the mirror of
// [WindowLeftJoin]: a window with no a-record yields join(zero A, y, false)
// for each of its b-records y.
func WindowRightJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, assigner window.Assigner, join func(a A, b B, matched bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	var fn func(A, B, bool, bool) Out
	if join != nil {
		fn = func(x A, y B, hasA, _ bool) Out { return join(x, y, hasA) }
	}
	return windowJoin(a, b, keyA, keyB, assigner, fn, false, true, opts)
}

// WindowFullJoin is the full-outer [WindowJoin]: every pair yields
// join(x, y, true, true); a window with records of one side only yields
// join(x, zero B, true, false) for each a-record x, or
// join(zero A, y, false, true) for each b-record y.
func WindowFullJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, assigner window.Assigner, join func(a A, b B, hasA, hasB bool) Out, opts ...JoinOption) Joined[A, B, Out] {
	return windowJoin(a, b, keyA, keyB, assigner, join, true, true, opts)
}

func windowJoin[A, B any, K comparable, Out any](a stream.Stream[A], b stream.Stream[B], keyA func(A) K, keyB func(B) K, assigner window.Assigner, join func(A, B, bool, bool) Out, outerA, outerB bool, opts []JoinOption) Joined[A, B, Out] {
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
			var zeroA A
			var zeroB B
			switch {
			case nb == 0: // a-records only
				if !outerA {
					return nil
				}
				out := make([]Out, 0, len(recs))
				for _, x := range recs {
					out = append(out, join(x.Value.Left, zeroB, true, false))
				}
				return out
			case nb == len(recs): // b-records only
				if !outerB {
					return nil
				}
				out := make([]Out, 0, len(recs))
				for _, y := range recs {
					out = append(out, join(zeroA, y.Value.Right, false, true))
				}
				return out
			}
			out := make([]Out, 0, (len(recs)-nb)*nb)
			for _, x := range recs {
				if x.Value.IsRight {
					continue
				}
				for _, y := range recs {
					if y.Value.IsRight {
						out = append(out, join(x.Value.Left, y.Value.Right, true, true))
					}
				}
			}
			return out
		}
	}
	wopts := []window.Option{window.Option(cfg.op.As("window-join"))}
	if cfg.discardLate {
		wopts = append(wopts, window.DiscardLate())
	}
	w := window.Process(ks, assigner, fn, wopts...)
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
