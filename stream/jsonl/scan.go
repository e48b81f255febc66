package jsonl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
)

// Scan reads r as a [Source] does, outside a pipeline: it yields every
// line a Source reading r would emit, in order and with the same rules
// (1-based numbers and byte offsets from r's position, "\r\n" and a
// leading byte-order mark trimmed, blank lines skipped unless
// [DecodeBlankLines], [MaxLineBytes], a line that decode rejects or that
// is too long yielded with Err and Raw set), each with a nil error. If
// reading r fails, the last pair is the zero Line and the read error.
// [EventTime] does not apply. For a tool that reads the same files as a
// pipeline (a producer, a validator, a test's reference) and must agree
// with it line for line.
//
// decode is called once per line it gets, with the line's bytes, which
// are only valid during the call (Raw is a copy).
func Scan[T any](r io.Reader, decode func(line []byte) (T, error), opts ...Option) iter.Seq2[Line[T], error] {
	o := options{maxLine: DefaultMaxLineBytes, bufSize: 64 << 10}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return func(yield func(Line[T], error) bool) {
		if decode == nil {
			yield(Line[T]{}, errors.New("jsonl: nil decoder"))
			return
		}
		lr := newLineReader(r, o.bufSize, o.maxLine)
		for {
			l, err := lr.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Line[T]{}, fmt.Errorf("jsonl: read at offset %d: %w", lr.off, err))
				return
			}
			line, ok := toLine(l, o.blank, decode)
			if ok && !yield(line, nil) {
				return
			}
		}
	}
}

// toLine makes the Line of l, decoding it; false for a blank line skipped
// (blankOK unset).
func toLine[T any](l rawLine, blankOK bool, decode func([]byte) (T, error)) (Line[T], bool) {
	b := trimLine(l.bytes, l.offset == 0)
	if !l.tooLong && !blankOK && blank(b) {
		return Line[T]{}, false
	}
	line := Line[T]{Num: l.num, Offset: l.offset, Size: l.size}
	if l.cr {
		line.Size-- // the "\r" of a "\r\n"
	}
	var cause error
	if l.tooLong {
		cause = ErrLineTooLong
	} else {
		line.Value, cause = decode(b)
	}
	if cause != nil {
		var zero T
		line.Value = zero
		line.Err = &LineError{Line: l.num, Offset: l.offset, Err: cause}
		line.Raw = bytes.Clone(b)
	}
	return line, true
}
