package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader splits its input into lines ending in "\n" (the last line may
// lack it), keeping track of byte offsets and line numbers. A line longer
// than max bytes, not counting its line ending ("\n" or "\r\n"), is reported
// as too long and skipped without being buffered: only a prefix of it is
// kept. A closed done channel ends a line that never ends (errCanceled),
// checked once per buffer of it.
type lineReader struct {
	r      *bufio.Reader
	max    int
	done   <-chan struct{}
	buf    []byte // a line that spans several bufio reads
	prefix []byte // the kept start of a too-long line
	off    int64  // offset of the next unread byte
	num    int64  // number of lines read
}

// rawLine is one line as read.
type rawLine struct {
	bytes   []byte // content without "\n"; valid until the next call to next
	num     int64  // 1-based line number
	offset  int64  // offset of the line's first byte
	size    int64  // length of the content (without "\n")
	tooLong bool   // longer than max without "\r\n": bytes holds a prefix only
	cr      bool   // the content ends in "\r"
}

// tooLongPrefix is how much of a too-long line is kept for its dead letter.
const tooLongPrefix = 4 << 10

// errCanceled is what next returns when done closed in the middle of a line.
var errCanceled = errors.New("jsonl: canceled")

func newLineReader(r io.Reader, bufSize, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, bufSize), max: max}
}

// next returns the next line, or io.EOF after the last one. Another error is
// a read error of the underlying reader.
func (lr *lineReader) next() (rawLine, error) {
	l := rawLine{offset: lr.off}
	lr.buf = lr.buf[:0]
	lr.prefix = lr.prefix[:0]
	var content []byte
	for {
		chunk, err := lr.r.ReadSlice('\n')
		lr.off += int64(len(chunk))
		end := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if end {
			chunk = chunk[:len(chunk)-1]
		}
		switch {
		case l.tooLong:
			// skipping the rest of a long line, keeping its start
			lr.keep(chunk)
		case l.size+int64(len(chunk)) > int64(lr.max)+1: // +1: a "\r" before the "\n" may still come
			l.tooLong = true
			lr.keep(lr.buf)
			lr.keep(chunk)
			lr.buf = lr.buf[:0]
		case end && len(lr.buf) == 0:
			content = chunk // the common case: no copy
		default:
			lr.buf = append(lr.buf, chunk...)
		}
		l.size += int64(len(chunk))
		if len(chunk) > 0 {
			l.cr = chunk[len(chunk)-1] == '\r'
		}
		if end {
			break
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				if lr.done != nil {
					select {
					case <-lr.done:
						return rawLine{}, errCanceled
					default:
					}
				}
				continue
			}
			if err != io.EOF {
				return rawLine{}, err
			}
			if l.size == 0 && !l.tooLong && lr.off == l.offset {
				return rawLine{}, io.EOF
			}
			break // a last line without "\n"
		}
	}
	lr.num++
	l.num = lr.num
	if !l.tooLong && l.size == int64(lr.max)+1 && !l.cr {
		// One byte over, and not the "\r" of a "\r\n" (or of a last line).
		l.tooLong = true
		if content != nil {
			lr.keep(content)
		} else {
			lr.keep(lr.buf)
		}
	}
	switch {
	case l.tooLong:
		l.bytes = lr.prefix
	case content != nil:
		l.bytes = content
	default:
		l.bytes = lr.buf
	}
	return l, nil
}

// keep appends to the kept prefix of a too-long line what still fits.
func (lr *lineReader) keep(b []byte) {
	if rest := tooLongPrefix - len(lr.prefix); rest > 0 {
		lr.prefix = append(lr.prefix, b[:min(rest, len(b))]...)
	}
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// trimLine removes a trailing "\r" and, on the first line, a byte-order mark.
func trimLine(b []byte, first bool) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if first {
		b = bytes.TrimPrefix(b, bom)
	}
	return b
}

// blank reports whether b holds only JSON whitespace.
func blank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}
