package jsonl_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

// endless is a reader of one line that never ends; it closes reading once
// it has been read from a few times.
type endless struct {
	reads   int
	reading chan struct{}
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	if e.reads++; e.reads == 8 {
		close(e.reading)
	}
	return len(p), nil
}

// runUntilCanceled runs src in a pipeline, cancels it once ready is
// closed, and requires Run to return context.Canceled within a second of
// the cancellation.
func runUntilCanceled(t *testing.T, src stream.Source[jsonl.Line[play]], ready <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := stream.New()
	d := jsonl.Decode(stream.From(p, src))
	stream.To(d.Stream, stream.Discard[play]())
	stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[jsonl.Line[play]]]())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	select {
	case <-ready:
	case err := <-ran:
		t.Fatalf("Run returned before the cancellation: %v", err)
	}
	cancel()
	select {
	case err := <-ran:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("Run still reading a second after the cancellation")
	}
}

func TestCancelInterruptsBlockingReads(t *testing.T) {
	t.Parallel()
	t.Run("endless line", func(t *testing.T) {
		t.Parallel()
		e := &endless{reading: make(chan struct{})}
		runUntilCanceled(t, jsonl.Reader(e, decodePlay), e.reading)
	})
	t.Run("pipe without data", func(t *testing.T) {
		t.Parallel()
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		defer w.Close()
		_, err = io.WriteString(w, `{"user":"a"}`+"\n")
		require.NoError(t, err)
		// The line is read once the source is at it; the pipe then blocks.
		ready := make(chan struct{})
		src := jsonl.Reader(r, func(b []byte) (play, error) {
			defer close(ready)
			return decodePlay(b)
		})
		runUntilCanceled(t, src, ready)
	})
	t.Run("reader without deadlines", func(t *testing.T) {
		t.Parallel()
		r, w := io.Pipe() // no SetReadDeadline: read in a helper goroutine
		ready := make(chan struct{})
		go func() {
			_, _ = io.WriteString(w, `{"user":"a"}`+"\n")
			close(ready)
		}()
		runUntilCanceled(t, jsonl.Reader(r, decodePlay), ready)
		w.Close() // ends the abandoned read, for goleak
	})
	t.Run("named pipe without a writer", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "fifo")
		if err := mkfifo(path); errors.Is(err, errors.ErrUnsupported) {
			t.Skip("no named pipes")
		} else {
			require.NoError(t, err)
		}
		ready := make(chan struct{})
		close(ready) // the open blocks at once, whenever it starts
		runUntilCanceled(t, jsonl.File(path, decodePlay), ready)
	})
}

func TestDecodeBlankLines(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	decode := func(b []byte) (play, error) {
		mu.Lock()
		seen = append(seen, string(b))
		mu.Unlock()
		if strings.TrimSpace(string(b)) == "" {
			return play{}, errors.New("blank")
		}
		return decodePlay(b)
	}
	input := "{\"user\":\"a\"}\n\n \t\r\n{\"user\":\"b\"}\n"
	res, err := run(t, jsonl.Reader(strings.NewReader(input), decode, jsonl.DecodeBlankLines()))
	require.NoError(t, err)
	assert.Equal(t, []string{`{"user":"a"}`, "", " \t", `{"user":"b"}`}, seen)
	assert.Len(t, res.good, 2)
	require.Len(t, res.dead, 2)
	assert.Equal(t, []int64{2, 3}, []int64{res.dead[0].Record.Value.Num, res.dead[1].Record.Value.Num})

	seen = nil
	res, err = run(t, jsonl.Reader(strings.NewReader(input), decode))
	require.NoError(t, err)
	assert.Equal(t, []string{`{"user":"a"}`, `{"user":"b"}`}, seen, "skipped by default")
	assert.Empty(t, res.dead)
}

// TestLineLimitSameForCRLF: the limit counts a line without its ending,
// "\n" or "\r\n" alike; a BOM at the start is skipped.
func TestLineLimitSameForCRLF(t *testing.T) {
	t.Parallel()
	const max = 64
	line := `{"user":"` + strings.Repeat("u", max-len(`{"user":""}`)) + `"}`
	require.Len(t, line, max)
	over := `{"user":"` + strings.Repeat("u", max+1-len(`{"user":""}`)) + `"}`
	for _, eol := range []string{"\n", "\r\n"} {
		input := "\xEF\xBB\xBF" + `{"user":"bom"}` + eol + line + eol + over + eol + line
		res, err := run(t, jsonl.Reader(strings.NewReader(input), decodePlay, jsonl.MaxLineBytes(max)))
		require.NoError(t, err)
		require.Len(t, res.good, 3, "%q", eol)
		assert.Equal(t, "bom", res.good[0].Value.User, "the BOM is skipped")
		require.Len(t, res.dead, 1, "%q", eol)
		l := res.dead[0].Record.Value
		assert.ErrorIs(t, l.Err, jsonl.ErrLineTooLong, "%q", eol)
		assert.Equal(t, int64(max+1), l.Size, "the size leaves out %q", eol)
	}
}
