package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/brook-streams/brook/internal/jsonenc"
	"io"
	"iter"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/brook-streams/brook/stream"
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
	lr.buf = lr.buf[:0]
	var total int64
	for {
		frag, err := lr.r.ReadSlice('\n')
		total += int64(len(frag))
		switch {
		case err == nil && len(lr.buf) == 0 && tooLong == 0 && len(frag) <= lr.max+1:
			// The common case: the whole line is in bufio's buffer.
			lr.line++
			lr.off += total
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

// DeadLetterWriter writes rejected lines as JSON Lines
// {"line":N,"reason":"...","raw":"..."}. It is safe for concurrent use; a
// nil *DeadLetterWriter discards everything.
//
// When it writes to a file (anything with Seek, Truncate and Sync, such as
// an *os.File), a checkpointed run can cut the file back to the length a
// checkpoint recorded (Rewind), so a resumed run does not write a dead
// letter twice.
type DeadLetterWriter struct {
	mu  sync.Mutex
	out outputLog
	buf []byte
}

// NewDeadLetterWriter returns a writer on w. Call Flush at the end.
func NewDeadLetterWriter(w io.Writer) *DeadLetterWriter {
	return &DeadLetterWriter{out: newOutputLog(w)}
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
	b = jsonenc.AppendString(b, reason)
	b = append(b, `,"raw":`...)
	if len(raw) > maxRawBytes {
		b = jsonenc.AppendString(b, string(raw[:maxRawBytes])+"...")
	} else {
		b = jsonenc.AppendString(b, string(raw))
	}
	b = append(b, "}\n"...)
	d.buf = b
	if err := d.out.write(b); err != nil {
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
	if err := d.out.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter output: %w", err)
	}
	return nil
}

// Offset returns how many bytes have been written, buffered ones included
// (0 for a nil writer).
func (d *DeadLetterWriter) Offset() int64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.off
}

// Sync flushes the buffer and, on a file, makes the contents durable: a
// checkpoint that records Offset may complete only after Sync.
func (d *DeadLetterWriter) Sync() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.out.sync(); err != nil {
		return fmt.Errorf("dead-letter output: %w", err)
	}
	return nil
}

// Rewind discards what was written after the first off bytes: it drops the
// buffer, truncates the file to off and writes on from there. It is how a
// resumed run continues the dead-letter file of the checkpoint it restores.
// A nil writer can only be rewound to 0.
func (d *DeadLetterWriter) Rewind(off int64) error {
	if d == nil {
		if off != 0 {
			return fmt.Errorf("the checkpoint has %d bytes of dead letters, but there is no -dead-letter output", off)
		}
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.out.rewind(off); err != nil {
		return fmt.Errorf("dead-letter output: %w", err)
	}
	return nil
}

// rewindable is what an output needs for a resumed run to cut it back to a
// checkpointed length: *os.File has it.
type rewindable interface {
	io.WriteSeeker
	Truncate(size int64) error
	Sync() error
	Stat() (os.FileInfo, error)
}

// outputLog is a buffered append-only output that counts the bytes written
// to it, for outputs whose length goes into checkpoints (-dump and
// -dead-letter). It is not safe for concurrent use.
type outputLog struct {
	w   *bufio.Writer
	f   rewindable // nil when the output is not a file
	off int64      // bytes written, buffered ones included
}

func newOutputLog(w io.Writer) outputLog {
	f, _ := w.(rewindable)
	return outputLog{w: bufio.NewWriterSize(w, 64<<10), f: f}
}

func (o *outputLog) write(b []byte) error {
	n, err := o.w.Write(b)
	o.off += int64(n)
	return err
}

// sync flushes the buffer and fsyncs a file.
func (o *outputLog) sync() error {
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.f != nil {
		return o.f.Sync()
	}
	return nil
}

// rewind truncates the output to off bytes and goes on writing there.
func (o *outputLog) rewind(off int64) error {
	if o.f == nil {
		if off == o.off {
			return nil
		}
		return fmt.Errorf("cannot go back to byte %d of an output that is not a file", off)
	}
	if err := o.w.Flush(); err != nil {
		return err
	}
	st, err := o.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < off {
		return fmt.Errorf("%s has %d bytes, fewer than the %d the checkpoint recorded: it changed since", st.Name(), st.Size(), off)
	}
	if err := o.f.Truncate(off); err != nil {
		return err
	}
	if _, err := o.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	o.w.Reset(o.f)
	o.off = off
	return nil
}

// LineSource is a PlaySource, and a checkpointable brook source, reading
// JSON Lines. Lines that do not decode are counted and dead-lettered and
// reading goes on; the catalog check is left to the engine's enrichment
// step. Its checkpointed position is the byte offset and number of the
// next line and the count of rejected lines; a run restored from a
// checkpoint seeks its input (which must then be an io.Seeker, a regular
// file) back to that offset.
type LineSource struct {
	in       io.Reader
	lr       *lineReader
	dead     *DeadLetterWriter
	progress *atomic.Int64 // optional: bytes consumed, for a progress bar
	rejected atomic.Int64
	err      error
}

var (
	_ PlaySource          = (*LineSource)(nil)
	_ stream.Source[Play] = (*LineSource)(nil)
	_ stream.Snapshotter  = (*LineSource)(nil)
)

// NewLineSource reads plays from r, dead-lettering undecodable lines to
// dead (nil discards them).
func NewLineSource(r io.Reader, dead *DeadLetterWriter) *LineSource {
	return &LineSource{in: r, lr: newLineReader(r, MaxLineBytes), dead: dead}
}

// flushLines is how often (in lines read) the source flushes its output
// in Run, so checkpoint barriers and records held in exchange buffers
// move on even through a long stretch of rejected lines.
const flushLines = 1024

// read consumes one line. It returns the play and true, or false for a
// line that did not decode (already counted and dead-lettered), or an
// error: io.EOF at the end of input. The line counts as consumed (in the
// position a checkpoint records) before read returns.
func (s *LineSource) read() (Play, bool, error) {
	text, num, tooLong, err := s.lr.next()
	if errors.Is(err, io.EOF) {
		return Play{}, false, io.EOF
	}
	if err != nil {
		return Play{}, false, fmt.Errorf("reading input: %w", err)
	}
	if s.progress != nil {
		s.progress.Store(s.lr.off)
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
			return Play{}, false, werr
		}
		return Play{}, false, nil
	}
	p.Line = num
	return p, true, nil
}

// All implements PlaySource.
func (s *LineSource) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		for {
			p, ok, err := s.read()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				s.err = err
				return
			}
			if ok && !yield(p) {
				return
			}
		}
	}
}

// Run implements stream.Source: it emits the plays, flushing every
// flushLines lines, until the end of input. A read error, also kept for
// Err, ends the run.
func (s *LineSource) Run(ctx context.Context, out stream.SourceOutput[Play]) error {
	done := ctx.Done()
	for {
		p, ok, err := s.read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			s.err = err
			return err
		}
		if ok {
			if err := out.Emit(stream.Record[Play]{Value: p}); err != nil {
				return err
			}
		}
		if s.lr.line%flushLines == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}

// Err implements PlaySource.
func (s *LineSource) Err() error { return s.err }

// Rejected implements PlaySource.
func (s *LineSource) Rejected() int64 { return s.rejected.Load() }

// Snapshot implements stream.Snapshotter: the position after the last line
// read.
func (s *LineSource) Snapshot() ([]byte, error) {
	var e stateEncoder
	e.version(lineStateVersion)
	e.int(s.lr.off)
	e.int(s.lr.line)
	e.int(s.rejected.Load())
	return e.b, nil
}

const lineStateVersion = 1

// Restore implements stream.Snapshotter: it seeks the input to the
// checkpointed offset.
func (s *LineSource) Restore(state []byte) error {
	d := stateDecoder{b: state}
	d.version(lineStateVersion, "input position")
	off, line, rejected := d.nonNegative(), d.nonNegative(), d.nonNegative()
	if err := d.finish(); err != nil {
		return err
	}
	if line > off {
		return fmt.Errorf("%w: input position: %d lines in %d bytes", stream.ErrCorruptCheckpoint, line, off)
	}
	sk, ok := s.in.(io.Seeker)
	if !ok {
		return errors.New("the input cannot seek back to the checkpoint (standard input or a pipe?)")
	}
	if _, err := sk.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seeking the input to the checkpoint: %w", err)
	}
	s.lr = newLineReader(s.in, MaxLineBytes)
	s.lr.line, s.lr.off = line, off
	s.rejected.Store(rejected)
	if s.progress != nil {
		s.progress.Store(off)
	}
	return nil
}
