package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/brook-streams/brook/stream"
)

// ErrNewline is returned by a Writer whose encoder produced a value with a
// "\n" in it, which would split it over two lines.
var ErrNewline = errors.New("jsonl: encoded value contains a newline")

// WriterOption configures a [Writer]. Options are values of a sealed
// interface.
type WriterOption interface{ applyWriter(*writerOptions) }

type writerOptions struct {
	encode  any // func(T) ([]byte, error)
	bufSize int
}

type writerOptionFunc func(*writerOptions)

func (f writerOptionFunc) applyWriter(o *writerOptions) { f(o) }

// Encoder sets how a Writer turns a value into a line (default:
// encoding/json). T must be the writer's value type, or the first Write
// fails with [stream.ErrInvalid]. The encoded bytes must not contain "\n".
func Encoder[T any](fn func(T) ([]byte, error)) WriterOption {
	return writerOptionFunc(func(o *writerOptions) { o.encode = fn })
}

// BufferSize sets the write buffer size in bytes (default 64 KiB).
func BufferSize(n int) WriterOption {
	return writerOptionFunc(func(o *writerOptions) {
		if n > 0 {
			o.bufSize = n
		}
	})
}

// Writer is a [stream.Sink] that writes each record's value as one line of
// JSON. It buffers: the runtime calls Sync at every checkpoint barrier and at
// the end of the input (a file is then also fsynced), and Close flushes
// whatever is left (also after a failed run) and closes the file the Writer
// created. Write, Sync and Close are called from one goroutine at a time, as
// the runtime does.
//
// Under checkpoints ([stream.WithCheckpoints]) a Writer to a file is
// exactly-once: its checkpointed state is the file's length after the
// barrier's Sync, and a restored run opens the file without truncating it
// and cuts it back to that length, dropping what the crashed run wrote after
// the checkpoint, before writing on. It fails before touching the file if the
// file is missing or shorter than the checkpoint says (someone else changed
// it). A Writer to an [io.Writer] or to standard output cannot cut anything
// back: it is at-least-once. Without checkpoints CreateFile creates or
// truncates the file.
type Writer[T any] struct {
	w      io.Writer // NewWriter
	path   string    // CreateFile: created by Open
	f      *os.File
	cw     countingWriter
	resume int64 // restored length to cut the file back to (-1: none)
	bw     *bufio.Writer
	enc    *json.Encoder
	encode func(T) ([]byte, error)
	opts   writerOptions
	err    error // sticky: the first error
	inited bool
}

var (
	_ stream.Sink[int]   = (*Writer[int])(nil)
	_ stream.Syncer      = (*Writer[int])(nil)
	_ stream.Closer      = (*Writer[int])(nil)
	_ stream.Opener      = (*Writer[int])(nil)
	_ stream.Snapshotter = (*Writer[int])(nil)
)

// countingWriter counts the bytes written through it: the file's length.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewWriter returns a Writer writing to w. It does not close w.
func NewWriter[T any](w io.Writer, opts ...WriterOption) *Writer[T] {
	return newWriter[T](w, "", opts)
}

// CreateFile returns a Writer to the file at path, which it creates (or
// truncates) when the pipeline opens it and closes at the end of the run;
// "-" is standard output, which it does not close. A run restored from a
// checkpoint instead reopens the file and cuts it back to its checkpointed
// length (see [Writer]).
func CreateFile[T any](path string, opts ...WriterOption) *Writer[T] {
	return newWriter[T](nil, path, opts)
}

func newWriter[T any](w io.Writer, path string, opts []WriterOption) *Writer[T] {
	wr := &Writer[T]{w: w, path: path, resume: -1, opts: writerOptions{bufSize: 64 << 10}}
	for _, o := range opts {
		if o != nil {
			o.applyWriter(&wr.opts)
		}
	}
	return wr
}

// Open creates the file of a Writer made by CreateFile.
func (w *Writer[T]) Open(*stream.Context) error { return w.init() }

func (w *Writer[T]) init() error {
	if w.inited {
		return w.err
	}
	w.inited = true
	if w.opts.encode != nil {
		fn, ok := w.opts.encode.(func(T) ([]byte, error))
		if !ok {
			w.err = fmt.Errorf("%w: jsonl: Encoder takes a %T, want a func(%T) ([]byte, error)", stream.ErrInvalid, w.opts.encode, *new(T))
			return w.err
		}
		w.encode = fn
	}
	if w.w == nil {
		switch w.path {
		case "":
			w.err = fmt.Errorf("%w: jsonl: nil writer", stream.ErrInvalid)
			return w.err
		case "-":
			w.w = os.Stdout
		default:
			f, n, err := w.openFile()
			if err != nil {
				w.err = err
				return err
			}
			w.f, w.w, w.cw.n = f, f, n
		}
	}
	w.cw.w = w.w
	w.bw = bufio.NewWriterSize(&w.cw, w.opts.bufSize)
	if w.encode == nil {
		w.enc = json.NewEncoder(w.bw)
		w.enc.SetEscapeHTML(false)
	}
	return nil
}

// openFile creates the file, or for a restored run reopens it cut back to
// the checkpointed length, and returns it with its length.
func (w *Writer[T]) openFile() (*os.File, int64, error) {
	if w.resume < 0 {
		f, err := os.Create(w.path)
		return f, 0, err
	}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("jsonl: resume %s: %w", w.path, err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() < w.resume {
		err = fmt.Errorf("%w: jsonl: resume %s: the file has %d bytes, the checkpoint %d (changed since?)", stream.ErrInvalid, w.path, st.Size(), w.resume)
	}
	if err == nil {
		err = f.Truncate(w.resume)
	}
	if err == nil {
		_, err = f.Seek(w.resume, io.SeekStart)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, 0, errors.Join(err, f.Close())
	}
	return f, w.resume, nil
}

const writerStateVersion = 1

// Snapshot implements [stream.Snapshotter]: the length of the output after
// the lines written so far (the runtime calls Sync first).
func (w *Writer[T]) Snapshot() ([]byte, error) {
	if w.bw != nil && w.bw.Buffered() > 0 {
		if err := w.Sync(context.Background()); err != nil {
			return nil, err
		}
	}
	return binary.AppendUvarint([]byte{writerStateVersion}, uint64(w.cw.n)), nil
}

// Restore implements [stream.Snapshotter]: a file Writer will cut its file
// back to the length in state when it opens it. A Writer to an io.Writer
// ignores it.
func (w *Writer[T]) Restore(state []byte) error {
	if len(state) < 2 || state[0] != writerStateVersion {
		return fmt.Errorf("%w: jsonl writer: unknown state version", stream.ErrCorruptCheckpoint)
	}
	n, k := binary.Uvarint(state[1:])
	if k <= 0 || 1+k != len(state) || n > 1<<62 {
		return fmt.Errorf("%w: jsonl writer: bad length", stream.ErrCorruptCheckpoint)
	}
	if w.path != "" && w.path != "-" {
		w.resume = int64(n)
	}
	return nil
}

// Write encodes r.Value and writes it, with a "\n", to the buffer.
func (w *Writer[T]) Write(_ context.Context, r stream.Record[T]) error {
	if !w.inited {
		if err := w.init(); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	if w.enc != nil {
		if err := w.enc.Encode(r.Value); err != nil {
			return w.fail(err)
		}
		return nil
	}
	b, err := w.encode(r.Value)
	if err != nil {
		return fmt.Errorf("jsonl: encode: %w", err) // the writer stays usable
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		return ErrNewline
	}
	if _, err := w.bw.Write(b); err != nil {
		return w.fail(err)
	}
	if err := w.bw.WriteByte('\n'); err != nil {
		return w.fail(err)
	}
	return nil
}

// fail records a write error: the buffer may hold a partial line, so the
// writer refuses further writes.
func (w *Writer[T]) fail(err error) error {
	var ue *json.UnsupportedTypeError
	var uv *json.UnsupportedValueError
	var me *json.MarshalerError
	if errors.As(err, &ue) || errors.As(err, &uv) || errors.As(err, &me) {
		return fmt.Errorf("jsonl: encode: %w", err) // json.Encoder wrote nothing
	}
	w.err = fmt.Errorf("jsonl: write: %w", err)
	return w.err
}

// Sync writes the buffered lines to the underlying writer and, for a file
// the Writer created, fsyncs it.
func (w *Writer[T]) Sync(context.Context) error {
	if !w.inited {
		if err := w.init(); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("jsonl: write: %w", err)
		return w.err
	}
	if w.f != nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("jsonl: sync: %w", err)
			return w.err
		}
	}
	return nil
}

// Close flushes the buffer and closes the file the Writer created.
func (w *Writer[T]) Close() error {
	var err error
	if w.bw != nil && w.err == nil {
		if ferr := w.bw.Flush(); ferr != nil {
			err = fmt.Errorf("jsonl: write: %w", ferr)
			w.err = err
		}
	}
	if w.f != nil {
		if cerr := w.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		w.f = nil
	}
	return err
}
