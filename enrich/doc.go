// Package enrich joins a stream with a table or with another stream, in
// event time.
//
//   - [Lookup] (stream–table join): each record looks its key up in a
//     [Table] and is combined with the row. [MapTable] is an in-memory table
//     that can be reloaded atomically while the pipeline runs
//     ([MapTable.Swap]); package enrich/redis has a Redis-backed table with a
//     cache. With [Batch], the lookup resolves up to n records with one
//     [Table.GetMany] call — one round trip for a remote table. With
//     [Async], each record's Get is a request of its own with up to
//     [stream.MaxInFlight] outstanding per instance ([stream.Async]), so
//     a table's latency overlaps instead of adding up.
//   - [IntervalJoin]: a record a of one stream joins every record b of the
//     other with the same key and a.t + lower <= b.t <= a.t + upper (bounds
//     inclusive). The outer joins [IntervalLeftJoin], [IntervalRightJoin]
//     and [IntervalFullJoin] also report the records of the left, right or
//     both sides that found no partner, once none can arrive any more.
//   - [WindowJoin]: records of both streams with the same key in the same
//     window (tumbling, sliding or session, from package window) are paired
//     when the window fires. [WindowLeftJoin], [WindowRightJoin] and
//     [WindowFullJoin] also report the records of a window that has records
//     of one side only.
//
// A short example, the catalog enrichment of the Julia Wolf pipeline:
//
//	catalog := enrich.NewMapTable(loadCatalog())
//	e := enrich.Lookup(plays, catalog, Play.TrackID, joinTrack)
//	stream.To(e.Stream, sink)
//	stream.To(e.DeadLetters(), unknownTracks) // plays of tracks not in the catalog
//	...
//	catalog.Swap(loadCatalog()) // reload while running
//
// # Guarantees
//
// A record is never dropped silently. A lookup whose key is missing follows
// the policy the user chose: [DeadLetterMissing] (the default: the record
// goes to [Enriched.DeadLetters] with an [ErrMissingKey] reason, and if
// nothing consumes that output the run fails with [stream.ErrNotConnected]),
// [DropMissing] (dropped and counted as an error in the operator's metrics),
// or [DefaultRow]. A table that fails (Redis down) fails the run with the
// cause, named after the operator; a batched lookup resolves its buffer, in
// order, before every watermark it forwards and at end of input, so results
// never fall behind a watermark and none is lost at the end.
//
// The two-stream joins bring both inputs together by key through one
// exchange ([stream.Connect]); their watermark is the minimum of the inputs'
// watermarks, leaving out an idle input. A record that is late when it
// arrives — at or below that watermark — is not joined; it is counted as
// late and goes to [Joined.Late]. If nothing consumes that output, a late
// record fails the run with [stream.ErrNotConnected], as an unconsumed dead
// letter does, unless the join has [DiscardLate].
//
// # Result times
//
//   - Lookup: the input record's time.
//   - Interval join: max(a.t, b.t) for a pair, as in Flink; an unmatched
//     record a (left and full joins) comes out once the watermark passes
//     a.t + upper, at max(a.t, a.t + upper), and an unmatched record b
//     (right and full joins) once it passes b.t - lower, at
//     max(b.t, b.t - lower), so neither is late downstream. The results a
//     watermark releases come out in no particular order among themselves.
//   - Window join: End-1 of the window, as every window result, for pairs
//     and unmatched records alike.
//
// # State
//
// The interval join keeps a record only until the watermark passes the last
// time a partner could still arrive (a.t + upper for a, b.t - lower for b):
// its memory is bounded by the records of one interval plus the inputs'
// out-of-orderness, not by the stream. The window join keeps the records of
// each open window (in package window's operator).
//
// With checkpoints on ([stream.WithCheckpoints]) the interval join saves the
// records it holds, and a batched lookup the records waiting in its batch,
// so a restored run gives the same output as an uninterrupted one. Both
// write their state in the library's state codec, keys, values and records
// through [codec.For]: basic types and BinaryMarshalers are encoded
// compactly, other types fall back to encoding/gob and must then be
// gob-encodable (exported fields); a type that is not fails the run at the
// first checkpoint. A batched lookup still restores the encoding/gob
// batches of earlier versions' checkpoints. An unbatched lookup has no state.
package enrich
