package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/brook-streams/brook/internal/jsonenc"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

// MaxLineBytes is the longest input line decoded (not counting its "\n" or
// "\r\n"). A longer line is not buffered whole: it becomes a "line too
// long" dead letter and reading goes on with the next line.
const MaxLineBytes = 4 << 20

// maxRawBytes bounds how much of a rejected line a dead letter quotes.
const maxRawBytes = 4 << 10

// deadLetter is a rejected line, or a play of a track the catalog lacks,
// written to -dead-letter as {"line":N,"reason":"...","raw":"..."}.
type deadLetter struct {
	line int64  // 1-based
	err  error  // the reason
	raw  []byte // the line as read (its first 4 KiB when too long); nil for a play
	size int64  // the line's length
}

// appendDeadLetter encodes d as one JSON line (without the newline). The
// raw text of a play of an unknown track is the play in the event-line
// format.
func appendDeadLetter(b []byte, d deadLetter) []byte {
	reason, raw := d.err.Error(), d.raw
	var unknown *unknownTrackError
	switch {
	case errors.Is(d.err, jsonl.ErrLineTooLong):
		reason = fmt.Sprintf("line too long (%d bytes, limit %d)", d.size, MaxLineBytes)
	case errors.As(d.err, &unknown):
		raw = AppendJSON(nil, unknown.play)
	}
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, d.line, 10)
	b = append(b, `,"reason":`...)
	b = jsonenc.AppendString(b, reason)
	b = append(b, `,"raw":`...)
	if len(raw) > maxRawBytes || int64(len(raw)) < d.size {
		b = jsonenc.AppendString(b, string(raw[:min(len(raw), maxRawBytes)])+"...")
	} else {
		b = jsonenc.AppendString(b, string(raw))
	}
	return append(b, '}')
}

// writeDeadLetters sends the dead letters to path (JSON Lines, exactly-once
// under checkpoints), or discards them when path is "".
func writeDeadLetters(dead stream.Stream[deadLetter], path string) {
	if path == "" {
		stream.To(dead, stream.Discard[deadLetter](), stream.Name("dead-letters"))
		return
	}
	stream.To(dead, jsonl.CreateFile[deadLetter](path, jsonl.Encoder(func(d deadLetter) ([]byte, error) {
		return appendDeadLetter(nil, d), nil
	})), stream.Name("dead-letters"))
}

// encodePlay is a -dump line.
func encodePlay(p Play) ([]byte, error) { return AppendJSON(nil, p), nil }
