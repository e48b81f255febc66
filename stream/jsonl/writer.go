package jsonl

import (
	"bufio"
	"bytes"
	"context"
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
// JSON. It buffers: the runtime calls Flush at the end of the input, and
// Close flushes whatever is left (also after a failed run) and closes the
// file the Writer created. Write, Flush and Close are called from one
// goroutine at a time, as the runtime does.
type Writer[T any] struct {
	w      io.Writer // NewWriter
	path   string    // CreateFile: created by Open
	f      *os.File
	bw     *bufio.Writer
	enc    *json.Encoder
	encode func(T) ([]byte, error)
	opts   writerOptions
	err    error // sticky: the first error
	inited bool
}

var (
	_ stream.Sink[int] = (*Writer[int])(nil)
	_ stream.Syncer    = (*Writer[int])(nil)
	_ stream.Closer    = (*Writer[int])(nil)
	_ stream.Opener    = (*Writer[int])(nil)
)

// NewWriter returns a Writer writing to w. It does not close w.
func NewWriter[T any](w io.Writer, opts ...WriterOption) *Writer[T] {
	return newWriter[T](w, "", opts)
}

// CreateFile returns a Writer to the file at path, which it creates (or
// truncates) when the pipeline opens it and closes at the end of the run;
// "-" is standard output, which it does not close.
func CreateFile[T any](path string, opts ...WriterOption) *Writer[T] {
	return newWriter[T](nil, path, opts)
}

func newWriter[T any](w io.Writer, path string, opts []WriterOption) *Writer[T] {
	wr := &Writer[T]{w: w, path: path, opts: writerOptions{bufSize: 64 << 10}}
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
			f, err := os.Create(w.path)
			if err != nil {
				w.err = err
				return err
			}
			w.f, w.w = f, f
		}
	}
	w.bw = bufio.NewWriterSize(w.w, w.opts.bufSize)
	if w.encode == nil {
		w.enc = json.NewEncoder(w.bw)
		w.enc.SetEscapeHTML(false)
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

// Flush writes the buffered lines to the underlying writer.
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
