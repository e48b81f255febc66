package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/brook-streams/brook/internal/jsonenc"
	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/codec"
)

// The reference engine's input: its own line reader (input.go) and sources
// of plays, independent of stream/jsonl, which the pipeline reads with, and
// its own dead-letter writer.

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
	if num == 1 {
		text = bytes.TrimPrefix(text, []byte("\xEF\xBB\xBF")) // as stream/jsonl does
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
	e := codec.NewEncoder(nil)
	e.Byte(lineStateVersion)
	e.Int(s.lr.off)
	e.Int(s.lr.line)
	e.Int(s.rejected.Load())
	return e.Data(), nil
}

const lineStateVersion = 1

// Restore implements stream.Snapshotter: it seeks the input to the
// checkpointed offset.
func (s *LineSource) Restore(state []byte) error {
	d := codec.NewDecoder(state, "input position")
	d.Version(lineStateVersion)
	off, line, rejected := nonNegative(d), nonNegative(d), nonNegative(d)
	if err := d.Finish(); err != nil {
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

// PlaySource is an engine's input: plays in arrival order.
type PlaySource interface {
	// All yields the plays in arrival order. It is single-use.
	All() iter.Seq[Play]
	// Err returns the error that ended All early (a read error), or nil
	// after a clean end of input. It is valid once All has returned.
	Err() error
	// Rejected returns how many input lines All skipped because they did
	// not decode; they have already been dead-lettered. It is valid once
	// All has returned.
	Rejected() int64
}

// SliceSource is a PlaySource, and a checkpointable brook source, over
// plays held in memory, for tests and benchmarks. Rejected reports Invalid.
type SliceSource struct {
	Plays   []Play
	Invalid int64
	pos     int // the next play Run emits
}

var (
	_ PlaySource          = (*SliceSource)(nil)
	_ stream.Source[Play] = (*SliceSource)(nil)
	_ stream.Snapshotter  = (*SliceSource)(nil)
)

// All implements PlaySource; unlike the other sources it can be iterated
// again, and always yields every play.
func (s *SliceSource) All() iter.Seq[Play] {
	return func(yield func(Play) bool) {
		for _, p := range s.Plays {
			if !yield(p) {
				return
			}
		}
	}
}

// Run implements stream.Source: it emits the plays from its position (the
// start, or a restored checkpoint's) on.
func (s *SliceSource) Run(ctx context.Context, out stream.SourceOutput[Play]) error {
	done := ctx.Done()
	for s.pos < len(s.Plays) {
		p := s.Plays[s.pos]
		s.pos++ // consumed before Emit, which may checkpoint the source
		if err := out.Emit(stream.Record[Play]{Value: p}); err != nil {
			return err
		}
		if s.pos%1024 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
	}
	return nil
}

// Err implements PlaySource.
func (s *SliceSource) Err() error { return nil }

// Rejected implements PlaySource.
func (s *SliceSource) Rejected() int64 { return s.Invalid }

const sliceStateVersion = 1

// Snapshot implements stream.Snapshotter: the index of the next play.
func (s *SliceSource) Snapshot() ([]byte, error) {
	e := codec.NewEncoder(nil)
	e.Byte(sliceStateVersion)
	e.Int(int64(s.pos))
	return e.Data(), nil
}

// Restore implements stream.Snapshotter.
func (s *SliceSource) Restore(state []byte) error {
	d := codec.NewDecoder(state, "slice position")
	d.Version(sliceStateVersion)
	pos := nonNegative(d)
	if err := d.Finish(); err != nil {
		return err
	}
	if pos > int64(len(s.Plays)) {
		return fmt.Errorf("%w: slice position %d of %d plays", stream.ErrCorruptCheckpoint, pos, len(s.Plays))
	}
	s.pos = int(pos)
	return nil
}

// generated is the reference engine's source of the generator's plays.
type generated struct{ gen *Generator }

func (g generated) All() iter.Seq[Play] { return g.gen.All() }
func (generated) Err() error            { return nil }
func (generated) Rejected() int64       { return 0 }

// playsIn and linesIn are the pipeline's inputs of plays and of JSON Lines.
func playsIn(src stream.Source[Play]) Input { return Input{Plays: src} }
func linesIn(r io.Reader) Input             { return Input{File: "-", Stdin: r} }
