// Package jsonl reads and writes JSON Lines (one JSON value per line) as brook
// sources and sinks.
//
// # Source
//
// [Reader] and [File] make a [Source] over an io.Reader, a file path, or
// standard input ("-"). The user's decoder turns each line into a value; the
// source emits a [Line] per non-blank line, carrying either the decoded value
// or the reason it could not be decoded, with the line's 1-based number, its
// byte offset and, for bad lines, a copy of the raw bytes. [Decode] splits
// that stream into the good values and the dead letters:
//
//	src := jsonl.File("plays.jsonl", decodePlay, jsonl.EventTime(Play.At))
//	lines := stream.From(p, src,
//		stream.WithWatermarks(stream.BoundedOutOfOrderness[jsonl.Line[Play]](5*time.Second)))
//	plays := jsonl.Decode(lines)
//	stream.To(plays.DeadLetters(), badLines) // line number, offset, raw bytes, reason
//	// ... plays.Stream is a stream.Stream[Play]
//
// Why the source emits Lines rather than taking a dead-letter callback: a bad
// line is data, not a failure, so it travels through the dataflow like any
// other record. It stays in order with the good lines, is subject to the same
// backpressure, reaches any sink (a file, Kafka, a test collector) with its
// Flush and Close managed by the runtime, and is counted as an error by the
// metrics hook, because [Decode] is built on [stream.Process]. If nothing
// consumes the dead letters, the first bad line fails the run with
// [stream.ErrNotConnected]: a line is never dropped silently. A callback would
// run outside the pipeline's lifecycle and error handling.
//
// A decoder may use encoding/json, or [Members] for speed and strictness:
// it reads chosen top-level members of an object line without decoding the
// rest, and its [Field] methods (Text, Int, Time) return errors whose text
// is a dead letter's reason ("missing user_id", "ms_played is not a
// number").
//
// Event time comes from the decoded value with [EventTime]. Bad lines carry
// the time of the last good line before them (0 before the first), so they
// never advance a watermark. Watermarks are added with
// [stream.WithWatermarks] on the [Line] stream as usual.
//
// Lines longer than [MaxLineBytes] (default 16 MiB, not counting the line
// ending, "\n" or "\r\n" alike) become dead letters with [ErrLineTooLong]
// (their [Line.Size] is the full length, their Raw the first 4 KiB); the
// reader skips the rest of such a line without buffering it, so a huge line
// never exhausts memory or stops the run. A trailing "\r" is removed before
// decoding, a UTF-8 byte-order mark at the start of the input is skipped
// (it counts towards the first line's length), and blank lines are skipped
// (but counted in line numbers) unless [DecodeBlankLines] hands them to the
// decoder.
//
// [Scan] reads an input by the same rules outside a pipeline, as an
// iterator of the same Lines: for a tool that must agree with a pipeline
// line for line (a producer publishing a file, a validator, a test's
// reference).
//
// Cancelling the run's context (or [stream.Pipeline.Stop]) ends Run
// promptly even while it waits: in the middle of a line that never ends
// (checked once per buffer), in a read of a pipe, socket or terminal (a
// file or connection with read deadlines gets one in the past; another
// reader is read in a helper goroutine, which a cancellation leaves to
// finish its read, dropping what it read), and in the open of a named pipe
// that has no writer (on Unix the open is ended; elsewhere the goroutine
// opening it is left to finish).
//
// The source's reading position (byte offset and line number of the next
// line) is a [stream.Snapshotter] state: Restore makes the next Run seek there
// (or skip forward on an input that cannot seek), so a checkpoint can resume
// it.
//
// # Sink
//
// [NewWriter] and [CreateFile] make a [Writer]: a buffered JSON Lines sink
// that encodes each value (with encoding/json by default) on its own line.
// Its Flush, called by the runtime at the end of the input, writes the
// buffer out; Close flushes what is left and closes a file it created. Every
// encoding and write error is returned, failing the run.
//
// # Guarantees
//
// The source is bounded: it emits every line of its input exactly once per
// run, in order, and returns at the end of the input. The writer writes every
// record it was given in order or returns an error; after a failed run the
// file holds a prefix of the records (everything written before the error,
// flushed by Close).
package jsonl
