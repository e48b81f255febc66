package main

import (
	"bufio"
	"errors"
	"io"
)

// lineReader splits a stream into lines with 1-based numbers, by the rules
// of stream/jsonl (which the pipeline reads with): a line may be up to max
// bytes without its "\n" or "\r\n"; a longer one is reported as too long
// without being held in memory. The tests' reference engine reads with it:
// a line splitter of its own, written apart from jsonl's, so that the two
// check each other.
type lineReader struct {
	r    *bufio.Reader
	max  int
	buf  []byte
	line int64 // lines returned so far
	off  int64 // input bytes consumed by them, newlines included
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its "\n" (and without a "\r" before
// it), its number, and its full length when it is longer than max (then
// text holds only its first max bytes). The text is valid until the next
// call. At the end of input it returns io.EOF; a last line without a
// newline is still a line.
func (lr *lineReader) next() (text []byte, num int64, tooLong int64, err error) {
	text, num, tooLong, err = lr.read(lr.max + 1) // a "\r" before the "\n" may come
	if err == nil && tooLong == 0 && len(text) > lr.max {
		tooLong = int64(len(text)) // over by a byte that is not a "\r"
	}
	if tooLong > 0 {
		text = text[:min(len(text), lr.max)]
	}
	return text, num, tooLong, err
}

func (lr *lineReader) read(limit int) (text []byte, num int64, tooLong int64, err error) {
	lr.buf = lr.buf[:0]
	var total int64
	for {
		frag, err := lr.r.ReadSlice('\n')
		total += int64(len(frag))
		switch {
		case err == nil && len(lr.buf) == 0 && tooLong == 0 && len(frag) <= limit+1:
			// The common case: the whole line is in bufio's buffer.
			lr.line++
			lr.off += total
			return trimEOL(frag), lr.line, 0, nil
		case err == nil || errors.Is(err, bufio.ErrBufferFull) || (errors.Is(err, io.EOF) && total > 0):
			if room := limit - len(lr.buf); room > 0 {
				lr.buf = append(lr.buf, frag[:min(room, len(frag))]...)
			}
			if total > int64(limit)+1 || (err != nil && total > int64(limit)) {
				tooLong = total
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			lr.line++
			lr.off += total
			if tooLong > 0 {
				if err == nil {
					tooLong-- // the newline is not part of the line
				}
				return lr.buf, lr.line, tooLong, nil
			}
			return trimEOL(lr.buf), lr.line, 0, nil
		default:
			return nil, 0, 0, err // io.EOF with nothing read, or a read error
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
