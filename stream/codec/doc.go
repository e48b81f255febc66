// Package codec is brook's compact binary encoding for checkpoint state:
// what snapshotters (stream.Snapshotter, stream.KeyGroupSnapshotter)
// and typed keyed state write.
//
// An [Encoder] appends varints, fixed-width integers, floats, booleans and
// length-prefixed strings and byte strings to a buffer. A [Decoder] reads
// them back with a sticky error: the first problem (truncated input, a
// length longer than what is left, a bad version byte, a check of the
// caller's via [Decoder.Fail]) is kept, later reads return zero values, and
// [Decoder.Finish] reports it, or trailing bytes. Counts read with
// [Decoder.Count] are bounded by the bytes left, so damaged state cannot make
// a restore allocate more than the state's size. Every error wraps
// [ErrCorrupt], which is stream.ErrCorruptCheckpoint.
//
// [Codec] is the typed form, for state of a user's type: built-ins for
// strings, integers, floats, booleans and byte strings, [Binary] for types
// implementing encoding.BinaryMarshaler, and [Gob] as the fallback for types
// that give no codec; [For] picks one by type.
//
// The format is stable: varints are those of encoding/binary, fixed-width
// integers and floats are little-endian, lengths are unsigned varints.
package codec
