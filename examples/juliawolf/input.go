package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"sync"
	"sync/atomic"
)

// MaxLineBytes is the longest input line decoded. A longer line is not
// buffered whole: it becomes a "line too long" dead letter and reading goes
// on with the next line.
const MaxLineBytes = 4 << 20

// maxRawBytes bounds how much of a rejected line a dead letter quotes.
const maxRawBytes = 4 << 10

// lineReader splits a stream into lines with 1-based numbers. A line may be
// up to max bytes; a longer one is reported as too long without being held
// in memory.
type lineReader struct {
	r    *bufio.Reader
	max  int
	buf  []byte
	line int64
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
	lr.buf = lr.buf[:0]
	var total int64
	for {
		frag, err := lr.r.ReadSlice('\n')
		total += int64(len(frag))
		switch {
		case err == nil && len(lr.buf) == 0 && tooLong == 0 && len(frag) <= lr.max+1:
			// The common case: the whole line is in bufio's buffer.
			lr.line++
			return trimEOL(frag), lr.line, 0, nil
		case err == nil || errors.Is(err, bufio.ErrBufferFull) || (errors.Is(err, io.EOF) && total > 0):
			if room := lr.max - len(lr.buf); room > 0 {
				lr.buf = append(lr.buf, frag[:min(room, len(frag))]...)
			}
			if total > int64(lr.max)+1 || (err != nil && total > int64(lr.max)) {
				tooLong = total
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			lr.line++
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

// DeadLetterWriter writes rejected lines as JSON Lines
// {"line":N,"reason":"...","raw":"..."}. It is safe for concurrent use; a
// nil *DeadLetterWriter discards everything.
type DeadLetterWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

// NewDeadLetterWriter returns a writer on w. Call Flush at the end.
func NewDeadLetterWriter(w io.Writer) *DeadLetterWriter {
	return &DeadLetterWriter{w: bufio.NewWriter(w)}
}

// Write records one rejected line: its 1-based number, the reason, and the
// line itself (quoted up to 4 KiB).
func (d *DeadLetterWriter) Write(line int64, reason string, raw []byte) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := append(d.buf[:0], `{"line":`...)
	b = strconv.AppendInt(b, line, 10)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `,"raw":`...)
	if len(raw) > maxRawBytes {
		b = appendJSONString(b, string(raw[:maxRawBytes])+"...")
	} else {
		b = appendJSONString(b, string(raw))
	}
	b = append(b, "}\n"...)
	d.buf = b
	if _, err := d.w.Write(b); err != nil {
		return fmt.Errorf("dead-letter output: %w", err)
	}
	return nil
}

// Flush writes out what is buffered.
func (d *DeadLetterWriter) Flush() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter output: %w", err)
	}
	return nil
}

// LineSource is a PlaySource reading JSON Lines. Lines that do not decode
// are counted and dead-lettered and reading goes on; the catalog check is
// left to the engine's enrichment step.
type LineSource struct {
	lr       *lineReader
	dead     *DeadLetterWriter
	lines    *atomic.Int64 // optional progress counter of lines read
	rejected atomic.Int64
	err      error
}

var _ PlaySource = (*LineSource)(nil)

// NewLineSource reads plays from r, dead-lettering undecodable lines to
// dead (nil discards them).
func NewLineSource(r io.Reader, dead *DeadLetterWriter) *LineSource {
	return &LineSource{lr: newLineReader(r, MaxLineBytes), dead: dead}
}

// All implements PlaySource.
func (s *LineSource) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		for {
			text, num, tooLong, err := s.lr.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				s.err = fmt.Errorf("reading input: %w", err)
				return
			}
			if s.lines != nil {
				s.lines.Add(1)
			}
			var p Play
			if tooLong > 0 {
				err = fmt.Errorf("line too long (%d bytes, limit %d)", tooLong, MaxLineBytes)
			} else {
				p, err = DecodePlay(text)
			}
			if err != nil {
				s.rejected.Add(1)
				if werr := s.dead.Write(num, err.Error(), text); werr != nil {
					s.err = werr
					return
				}
				continue
			}
			p.Line = num
			if !yield(p) {
				return
			}
		}
	}
}

// Err implements PlaySource.
func (s *LineSource) Err() error { return s.err }

// Rejected implements PlaySource.
func (s *LineSource) Rejected() int64 { return s.rejected.Load() }
