package jsonl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/brook-streams/brook/stream"
)

var (
	// ErrLineTooLong is the reason of a dead letter for a line longer than
	// the source's MaxLineBytes.
	ErrLineTooLong = errors.New("jsonl: line too long")
	// ErrAlreadyRun is returned by Run on a Source that has run before: a
	// Source reads its input once.
	ErrAlreadyRun = errors.New("jsonl: source already run")
	// ErrBadSnapshot is returned by Restore for a state that is not a
	// snapshot of a Source, and by Run when the input ends before the
	// restored position.
	ErrBadSnapshot = errors.New("jsonl: bad snapshot")
)

// DefaultMaxLineBytes is the longest line a Source decodes unless
// [MaxLineBytes] says otherwise: 16 MiB.
const DefaultMaxLineBytes = 16 << 20

// Line is one line of a JSON Lines input: the decoded value, or the reason it
// could not be decoded. [Decode] turns a stream of Lines into a stream of
// values and a dead-letter stream.
type Line[T any] struct {
	// Num is the line's 1-based number in the input.
	Num int64
	// Offset is the byte offset of the line's first byte in the input.
	Offset int64
	// Size is the line's length in bytes, without its line ending ("\n"
	// or "\r\n"); for a too-long line, its full length.
	Size int64
	// Value is the decoded value (the zero value when Err is set).
	Value T
	// Err is why the line was not decoded: a *[LineError] wrapping the
	// decoder's error or [ErrLineTooLong]. Nil for a good line.
	Err error
	// Raw is a copy of the line's bytes (without "\r\n") when Err is set,
	// nil otherwise. For a too-long line it holds the first 4 KiB only.
	Raw []byte
}

// LineError is the reason a line became a dead letter.
type LineError struct {
	Line   int64 // 1-based line number
	Offset int64 // byte offset of the line's first byte
	Err    error // the decoder's error, or ErrLineTooLong
}

// Error reports the line, its offset and the cause.
func (e *LineError) Error() string {
	return fmt.Sprintf("jsonl: line %d (offset %d): %v", e.Line, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Position is a place in a JSON Lines input: the byte offset of the next
// line to read and the number of lines before it.
type Position struct {
	Offset int64
	Line   int64
}

// Option configures a [Source]. Options are values of a sealed interface.
type Option interface{ apply(*options) }

type options struct {
	maxLine   int
	eventTime any // func(T) time.Time
	bufSize   int
	blank     bool // decode blank lines too
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// MaxLineBytes sets the longest line (not counting its "\n") the source
// decodes; longer lines become dead letters with [ErrLineTooLong]. The
// default is [DefaultMaxLineBytes]; n < 1 means the default.
func MaxLineBytes(n int) Option {
	return optionFunc(func(o *options) {
		if n < 1 {
			n = DefaultMaxLineBytes
		}
		o.maxLine = n
	})
}

// DecodeBlankLines hands blank lines (empty, or only JSON whitespace) to
// the decoder like any other line, instead of skipping them: for formats in
// which a blank line is an error to report (the decoder's error makes it a
// dead letter) rather than padding.
func DecodeBlankLines() Option {
	return optionFunc(func(o *options) { o.blank = true })
}

// EventTime sets each good line's event time from its decoded value. T must
// be the source's value type, or Run fails with [stream.ErrInvalid].
func EventTime[T any](fn func(T) time.Time) Option {
	return optionFunc(func(o *options) { o.eventTime = fn })
}

// Source is a bounded [stream.Source] of the lines of a JSON Lines input. It
// reads its input once: a second Run returns [ErrAlreadyRun]. It implements
// [stream.Snapshotter] (its reading position) and [stream.Closer] (it closes
// a file it opened).
type Source[T any] struct {
	decode func(line []byte) (T, error)
	opts   options
	path   string    // File: opened by Run
	r      io.Reader // Reader
	f      *os.File  // opened by Run, closed by Close
	ran    atomic.Bool
	pos    Position // of the next line; owned by the running goroutine
	start  Position // restored position Run starts from
}

var (
	_ stream.Source[Line[int]] = (*Source[int])(nil)
	_ stream.Snapshotter       = (*Source[int])(nil)
	_ stream.Closer            = (*Source[int])(nil)
)

// Reader returns a Source reading r with decode. Offsets count from r's
// position when Run starts. decode is called once per non-blank line, with
// the line without its "\r\n"; the slice is only valid during the call.
func Reader[T any](r io.Reader, decode func(line []byte) (T, error), opts ...Option) *Source[T] {
	return newSource(decode, opts, "", r)
}

// File returns a Source reading the file at path, or standard input if path
// is "-". The file is opened when the source runs and closed when it stops.
func File[T any](path string, decode func(line []byte) (T, error), opts ...Option) *Source[T] {
	return newSource(decode, opts, path, nil)
}

func newSource[T any](decode func([]byte) (T, error), opts []Option, path string, r io.Reader) *Source[T] {
	s := &Source[T]{decode: decode, path: path, r: r, opts: options{maxLine: DefaultMaxLineBytes, bufSize: 64 << 10}}
	for _, o := range opts {
		if o != nil {
			o.apply(&s.opts)
		}
	}
	return s
}

// Position returns the position of the next line to read. It must not be
// called while Run is running on another goroutine.
func (s *Source[T]) Position() Position { return s.pos }

// Snapshot returns the reading position: the line after the last one handed
// to the output.
func (s *Source[T]) Snapshot() ([]byte, error) {
	b := make([]byte, 1, 1+2*binary.MaxVarintLen64)
	b[0] = 1 // version
	b = binary.AppendUvarint(b, uint64(s.pos.Offset))
	b = binary.AppendUvarint(b, uint64(s.pos.Line))
	return b, nil
}

// Restore makes the next Run start at the position in state, a result of
// Snapshot.
func (s *Source[T]) Restore(state []byte) error {
	if len(state) < 1 || state[0] != 1 {
		return fmt.Errorf("%w: unknown version", ErrBadSnapshot)
	}
	off, n := binary.Uvarint(state[1:])
	if n <= 0 {
		return fmt.Errorf("%w: offset", ErrBadSnapshot)
	}
	line, m := binary.Uvarint(state[1+n:])
	if m <= 0 || 1+n+m != len(state) || off > 1<<62 || line > off {
		return fmt.Errorf("%w: position", ErrBadSnapshot)
	}
	s.start = Position{Offset: int64(off), Line: int64(line)}
	s.pos = s.start
	return nil
}

// Close closes the file the source opened, if any.
func (s *Source[T]) Close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	return f.Close()
}

// Run reads the input to its end, emitting a Line per non-blank line.
func (s *Source[T]) Run(ctx context.Context, out stream.SourceOutput[Line[T]]) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	if s.decode == nil {
		return fmt.Errorf("%w: jsonl: nil decoder", stream.ErrInvalid)
	}
	var timeOf func(T) time.Time
	if s.opts.eventTime != nil {
		fn, ok := s.opts.eventTime.(func(T) time.Time)
		if !ok {
			return fmt.Errorf("%w: jsonl: EventTime takes a %T, want a func(%T) time.Time", stream.ErrInvalid, s.opts.eventTime, *new(T))
		}
		timeOf = fn
	}
	r, err := s.open(ctx)
	if err != nil {
		return err
	}
	if err := s.seek(r); err != nil {
		return err
	}
	in, stop := s.input(ctx, r, out)
	defer stop()
	lr := newLineReader(in, s.opts.bufSize, s.opts.maxLine)
	lr.off, lr.num, lr.done = s.start.Offset, s.start.Line, ctx.Done()
	var last stream.Time // time of the last good line
	done := ctx.Done()
	for i := 0; ; i++ {
		if i&1023 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		l, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // a read or a line the cancellation cut short
			}
			return fmt.Errorf("jsonl: read at offset %d: %w", lr.off, err)
		}
		s.pos = Position{Offset: lr.off, Line: lr.num}
		line, ok := toLine(l, s.opts.blank, s.decode)
		if !ok {
			continue
		}
		rec := stream.Record[Line[T]]{Time: last, Value: line}
		if line.Err == nil && timeOf != nil {
			rec.Time = stream.TimeOf(timeOf(line.Value))
			last = rec.Time
		}
		if err := out.Emit(rec); err != nil {
			return err
		}
	}
}

func (s *Source[T]) open(ctx context.Context) (io.Reader, error) {
	if s.r != nil || s.path == "" {
		if s.r == nil {
			return nil, fmt.Errorf("%w: jsonl: nil reader", stream.ErrInvalid)
		}
		return s.r, nil
	}
	if s.path == "-" {
		return os.Stdin, nil
	}
	f, err := openFile(ctx, s.path)
	if err != nil {
		return nil, err
	}
	s.f = f
	return f, nil
}

// openFile opens path for reading. Opening a named pipe waits for a
// writer; if ctx ends first, openFile returns its error and ends the
// waiting open where the system allows (see abandonOpen).
func openFile(ctx context.Context, path string) (*os.File, error) {
	if st, err := os.Stat(path); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return os.Open(path)
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		abandonOpen(path, ch)
		return nil, ctx.Err()
	}
}

// opened is the outcome of an open in a helper goroutine.
type opened struct {
	f   *os.File
	err error
}

// seek moves r to the restored position: by seeking when it can, else by
// reading and discarding.
func (s *Source[T]) seek(r io.Reader) error {
	if s.start.Offset == 0 {
		return nil
	}
	if sk, ok := r.(io.Seeker); ok && r != io.Reader(os.Stdin) {
		if _, err := sk.Seek(s.start.Offset, io.SeekCurrent); err == nil {
			return nil
		}
	}
	n, err := io.CopyN(io.Discard, r, s.start.Offset)
	if err == io.EOF {
		return fmt.Errorf("%w: input ends at %d, before the restored offset %d", ErrBadSnapshot, n, s.start.Offset)
	}
	return err
}

// input wraps r so that the source waits for each read that may block
// (pipes, sockets, terminals) in out.Await, as a Source must: buffered records
// go on first, and checkpoint barriers pass while it waits. Regular files and
// in-memory readers never block, so they are read directly.
//
// A blocked read ends when ctx does: a reader with read deadlines (a pipe
// or socket *os.File, a net.Conn) gets a deadline in the past; any other
// reader is read in a helper goroutine that a cancellation abandons (its
// read returns later, when the reader does, and what it read is dropped).
// The returned stop undoes the deadline hook.
func (s *Source[T]) input(ctx context.Context, r io.Reader, out stream.SourceOutput[Line[T]]) (io.Reader, func()) {
	switch r := r.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		return r, func() {}
	case *os.File:
		if st, err := r.Stat(); err == nil && st.Mode().IsRegular() {
			return r, func() {}
		}
	}
	ar := &awaitingReader{r: r, await: out.Await, done: ctx.Done()}
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Time{}) == nil {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Unix(1, 0)) })
		return ar, func() {
			if !stop() {
				_ = d.SetReadDeadline(time.Time{}) // the hook ran: clear its deadline
			}
		}
	}
	ar.async = true
	return ar, func() {}
}

// awaitingReader reads inside await. A read changes nothing the source's
// Snapshot reads (its position moves only as lines are emitted). With async
// each read runs in a goroutine, into a buffer of its own, so that a closed
// done can end the wait for it.
type awaitingReader struct {
	r     io.Reader
	await func(wait func() error) error
	done  <-chan struct{}
	async bool
	buf   []byte // async: the last read's buffer, reused while no read is abandoned
	res   chan readResult
}

type readResult struct {
	n   int
	err error
}

func (f *awaitingReader) Read(p []byte) (n int, err error) {
	if aerr := f.await(func() error {
		if !f.async {
			n, err = f.r.Read(p)
			return nil
		}
		n, err = f.readAsync(p)
		return nil
	}); aerr != nil {
		return 0, aerr
	}
	return n, err
}

func (f *awaitingReader) readAsync(p []byte) (int, error) {
	if f.res == nil {
		f.res = make(chan readResult, 1)
	}
	if cap(f.buf) < len(p) {
		f.buf = make([]byte, len(p))
	}
	buf, res := f.buf[:len(p)], f.res
	go func() {
		n, err := f.r.Read(buf)
		res <- readResult{n, err}
	}()
	select {
	case r := <-res:
		return copy(p, buf[:r.n]), r.err
	case <-f.done:
		f.buf, f.res = nil, nil // the goroutine still owns them
		return 0, errCanceled
	}
}

// Decode splits a stream of Lines into the decoded values, at their lines'
// times, and the dead letters of the lines that could not be decoded (see
// [stream.Processed.DeadLetters]; each dead letter's Err is the line's
// *[LineError] and its Record.Value the Line with its Raw bytes). If nothing
// consumes the dead letters, a bad line fails the run.
func Decode[T any](lines stream.Stream[Line[T]]) stream.Processed[Line[T], T] {
	return stream.Process(lines, func(_ *stream.Context, r stream.Record[Line[T]], out stream.Emitter[T]) error {
		if r.Value.Err != nil {
			return stream.Reject(r.Value.Err)
		}
		return out.Emit(stream.Record[T]{Time: r.Time, Value: r.Value.Value})
	}, stream.Name("jsonl.decode"))
}
