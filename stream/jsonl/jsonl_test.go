package jsonl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type play struct {
	User  string `json:"user"`
	Track int    `json:"track"`
	TS    int64  `json:"ts"` // unix seconds
}

func (p play) At() time.Time { return time.Unix(p.TS, 0) }

func decodePlay(b []byte) (play, error) {
	var p play
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return play{}, err
	}
	if p.User == "" {
		return play{}, errors.New("missing user")
	}
	return p, nil
}

type result struct {
	good []stream.Record[play]
	dead []stream.DeadLetter[jsonl.Line[play]]
	wms  []stream.Time
}

// run runs src through Decode into collectors.
func run(t *testing.T, src stream.Source[jsonl.Line[play]], opts ...stream.SourceOption[jsonl.Line[play]]) (result, error) {
	t.Helper()
	p := stream.New(stream.WithParallelism(1))
	lines := stream.From(p, src, opts...)
	d := jsonl.Decode(lines)
	good := streamtest.NewSink[play]()
	dead := stream.Collect[stream.DeadLetter[jsonl.Line[play]]]()
	stream.To(d.Stream, good)
	stream.To(d.DeadLetters(), dead)
	err := p.Run(context.Background())
	return result{good: good.Records(), dead: dead.Values(), wms: good.Watermarks()}, err
}

func TestSourceGoodBadBlankLongLines(t *testing.T) {
	t.Parallel()
	input := strings.Join([]string{
		`{"user":"ann","track":1,"ts":100}`, // 1
		``,                                  // 2 blank: skipped
		`{"user":"bob","track":2,"ts":90}`,  // 3
		`not json`,                          // 4 bad
		`{"user":"","track":3,"ts":95}`,     // 5 rejected by the decoder
		`   `,                               // 6 blank
		`{"user":"cy","track":4,"ts":120,"pad":"` + strings.Repeat("x", 200) + `"}`, // 7 too long
		`{"user":"dee","track":5,"ts":130}` + "\r",                                  // 8 CRLF
		`{"user":"eve","track":6,"ts":140}`,                                         // 9 no final newline
	}, "\n")
	res, err := run(t, jsonl.Reader(strings.NewReader(input), decodePlay,
		jsonl.EventTime(play.At), jsonl.MaxLineBytes(100)))
	require.NoError(t, err)

	var users []string
	var times []stream.Time
	for _, r := range res.good {
		users = append(users, r.Value.User)
		times = append(times, r.Time)
	}
	assert.Equal(t, []string{"ann", "bob", "dee", "eve"}, users)
	assert.Equal(t, []stream.Time{
		stream.TimeOf(time.Unix(100, 0)), stream.TimeOf(time.Unix(90, 0)),
		stream.TimeOf(time.Unix(130, 0)), stream.TimeOf(time.Unix(140, 0)),
	}, times)

	require.Len(t, res.dead, 3)
	wantNums := []int64{4, 5, 7}
	for i, d := range res.dead {
		l := d.Record.Value
		assert.Equal(t, wantNums[i], l.Num)
		assert.Equal(t, "jsonl.decode", d.Operator)
		var le *jsonl.LineError
		require.ErrorAs(t, d.Err, &le)
		assert.Equal(t, l.Num, le.Line)
		assert.Equal(t, l.Offset, le.Offset)
		assert.Contains(t, d.Err.Error(), fmt.Sprintf("line %d", l.Num))
		// the offset points at the line in the input
		assert.True(t, strings.HasPrefix(input[l.Offset:], string(l.Raw)), "offset %d", l.Offset)
		// a bad line's time is the last good line's time: it moves no watermark
		assert.Equal(t, stream.TimeOf(time.Unix(90, 0)), d.Record.Time)
	}
	assert.Equal(t, "not json", string(res.dead[0].Record.Value.Raw))
	assert.EqualError(t, errors.Unwrap(res.dead[1].Err), "missing user")
	assert.ErrorIs(t, res.dead[2].Err, jsonl.ErrLineTooLong)
	long := res.dead[2].Record.Value
	assert.Equal(t, `{"user":"cy","track":4,"ts":120,"pad":"`+strings.Repeat("x", 200)+`"}`, string(long.Raw),
		"a line under 4 KiB is kept whole")
}

func TestSourceWatermarks(t *testing.T) {
	t.Parallel()
	input := `{"user":"a","ts":10}
{"user":"b","ts":30}
{"user":"c","ts":20}
oops
{"user":"d","ts":40}
`
	res, err := run(t, jsonl.Reader(strings.NewReader(input), decodePlay, jsonl.EventTime(play.At)),
		stream.WithWatermarks(stream.BoundedOutOfOrderness[jsonl.Line[play]](5*time.Second)))
	require.NoError(t, err)
	require.Len(t, res.good, 4)
	require.Len(t, res.dead, 1)
	sec := func(s int64) stream.Time { return stream.TimeOf(time.Unix(s, 0)) }
	// maxSeen - 5s - 1ns after each line; the bad line changes nothing.
	assert.Equal(t, []stream.Time{sec(5) - 1, sec(25) - 1, sec(35) - 1, stream.MaxTime}, res.wms)
}

func TestDeadLettersNotConnectedFailsRun(t *testing.T) {
	t.Parallel()
	p := stream.New()
	d := jsonl.Decode(stream.From(p, jsonl.Reader(strings.NewReader("{\"user\":\"a\"}\nbad\n"), decodePlay)))
	stream.To(d.Stream, stream.Discard[play]())
	err := p.Run(context.Background())
	require.ErrorIs(t, err, stream.ErrNotConnected)
	assert.Contains(t, err.Error(), "line 2")
}

func TestSourceMisuse(t *testing.T) {
	t.Parallel()
	t.Run("event time of another type", func(t *testing.T) {
		_, err := run(t, jsonl.Reader(strings.NewReader("{}\n"), decodePlay,
			jsonl.EventTime(func(int) time.Time { return time.Time{} })))
		require.ErrorIs(t, err, stream.ErrInvalid)
	})
	t.Run("nil decoder", func(t *testing.T) {
		_, err := run(t, jsonl.Reader[play](strings.NewReader("{}\n"), nil))
		require.ErrorIs(t, err, stream.ErrInvalid)
	})
	t.Run("second run", func(t *testing.T) {
		src := jsonl.Reader(strings.NewReader(`{"user":"a"}`), decodePlay)
		_, err := run(t, src)
		require.NoError(t, err)
		_, err = run(t, src)
		require.ErrorIs(t, err, jsonl.ErrAlreadyRun)
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := run(t, jsonl.File(filepath.Join(t.TempDir(), "nope.jsonl"), decodePlay))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("disk on fire")
		r := io.MultiReader(strings.NewReader("{\"user\":\"a\"}\n"), iotestErr{boom})
		res, err := run(t, jsonl.Reader(r, decodePlay))
		require.ErrorIs(t, err, boom)
		assert.Len(t, res.good, 1)
	})
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func TestSnapshotRestoreResumes(t *testing.T) {
	t.Parallel()
	var all []string
	for i := range 50 {
		all = append(all, fmt.Sprintf(`{"user":"u%d","track":%d}`, i, i))
	}
	input := strings.Join(all, "\n") + "\n"
	// The first run sees only the first 20 lines, as if it had stopped there.
	cut := len(strings.Join(all[:20], "\n")) + 1
	first := jsonl.Reader(strings.NewReader(input[:cut]), decodePlay)
	res, err := run(t, first)
	require.NoError(t, err)
	require.Len(t, res.good, 20)
	assert.Equal(t, jsonl.Position{Offset: int64(cut), Line: 20}, first.Position())
	state, err := first.Snapshot()
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "plays.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(input), 0o600))
	readers := map[string]func() stream.Source[jsonl.Line[play]]{
		"file (seeks)": func() stream.Source[jsonl.Line[play]] {
			s := jsonl.File(path, decodePlay)
			require.NoError(t, s.Restore(state))
			return s
		},
		"pipe (skips)": func() stream.Source[jsonl.Line[play]] {
			s := jsonl.Reader(io.MultiReader(strings.NewReader(input)), decodePlay)
			require.NoError(t, s.Restore(state))
			return s
		},
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			res, err := run(t, mk())
			require.NoError(t, err)
			require.Len(t, res.good, 30)
			assert.Equal(t, "u20", res.good[0].Value.User)
			assert.Equal(t, "u49", res.good[29].Value.User)
		})
	}
	t.Run("line numbers continue", func(t *testing.T) {
		s := jsonl.Reader(strings.NewReader(input+"bad\n"), decodePlay)
		require.NoError(t, s.Restore(state))
		res, err := run(t, s)
		require.NoError(t, err)
		require.Len(t, res.dead, 1)
		assert.Equal(t, int64(51), res.dead[0].Record.Value.Num)
		assert.Equal(t, int64(len(input)), res.dead[0].Record.Value.Offset)
	})
	t.Run("input shorter than the position", func(t *testing.T) {
		s := jsonl.Reader(io.MultiReader(strings.NewReader(input[:10])), decodePlay)
		require.NoError(t, s.Restore(state))
		_, err := run(t, s)
		require.ErrorIs(t, err, jsonl.ErrBadSnapshot)
	})
	t.Run("garbage state", func(t *testing.T) {
		s := jsonl.Reader(strings.NewReader(input), decodePlay)
		for _, bad := range [][]byte{nil, {2, 1, 1}, {1}, {1, 5}, {1, 5, 9}, {1, 5, 1, 0}} {
			require.ErrorIs(t, s.Restore(bad), jsonl.ErrBadSnapshot, "%v", bad)
		}
	})
}

// TestSourceFlushesBeforeBlocking: on a pipe, lines reach a sink behind an
// exchange while the writer is still holding the pipe open.
func TestSourceFlushesBeforeBlocking(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	p := stream.New(stream.WithParallelism(2))
	d := jsonl.Decode(stream.From(p, jsonl.Reader(pr, decodePlay)))
	k := stream.KeyBy(d.Stream, func(p play) string { return p.User })
	got := make(chan string, 10)
	stream.To(k.Stream, stream.SinkFunc[play](func(ctx context.Context, r stream.Record[play]) error {
		got <- r.Value.User
		return nil
	}))
	stream.To(d.DeadLetters(), stream.Discard[stream.DeadLetter[jsonl.Line[play]]]())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	for _, u := range []string{"a", "b", "c"} {
		_, err := fmt.Fprintf(pw, "{\"user\":%q}\n", u)
		require.NoError(t, err)
		select {
		case v := <-got:
			assert.Equal(t, u, v)
		case <-time.After(10 * time.Second):
			t.Fatalf("line %q held back in a batch while the source waits for input", u)
		}
	}
	require.NoError(t, pw.Close())
	require.NoError(t, <-errc)
}

func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	in := []play{{"a", 1, 10}, {"b\n\"quoted\" <html>", 2, 20}, {"c", 3, 30}}
	p := stream.New()
	stream.To(stream.From(p, stream.Slice(in)), jsonl.CreateFile[play](path, jsonl.BufferSize(16)))
	require.NoError(t, p.Run(context.Background()))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 3, bytes.Count(data, []byte("\n")))
	assert.Contains(t, string(data), `<html>`, "no HTML escaping")

	res, err := run(t, jsonl.File(path, decodePlay))
	require.NoError(t, err)
	require.Empty(t, res.dead)
	var out []play
	for _, r := range res.good {
		out = append(out, r.Value)
	}
	assert.Equal(t, in, out)
}

type failWriter struct {
	n   int
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	t.Run("write error fails the run", func(t *testing.T) {
		boom := errors.New("disk full")
		p := stream.New()
		recs := make([]int, 10000)
		stream.To(stream.From(p, stream.Slice(recs)), jsonl.NewWriter[int](&failWriter{n: 1, err: boom}, jsonl.BufferSize(64)), stream.Name("out"))
		err := p.Run(context.Background())
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "out")
	})
	t.Run("error at the final flush", func(t *testing.T) {
		boom := errors.New("disk full")
		p := stream.New()
		stream.To(stream.From(p, stream.Slice([]int{1, 2})), jsonl.NewWriter[int](&failWriter{err: boom}))
		require.ErrorIs(t, p.Run(context.Background()), boom)
	})
	t.Run("unencodable value fails the run", func(t *testing.T) {
		var buf bytes.Buffer
		p := stream.New()
		stream.To(stream.From(p, stream.Slice([]float64{1, math.NaN(), 2})), jsonl.NewWriter[float64](&buf))
		err := p.Run(context.Background())
		var uv *json.UnsupportedValueError
		require.ErrorAs(t, err, &uv)
		assert.Equal(t, "1\n", buf.String(), "the lines before the bad value are flushed by Close")
	})
	t.Run("custom encoder", func(t *testing.T) {
		var buf bytes.Buffer
		w := jsonl.NewWriter[string](&buf, jsonl.Encoder(func(s string) ([]byte, error) {
			if s == "" {
				return nil, errors.New("empty")
			}
			return []byte(s), nil
		}))
		ctx := context.Background()
		require.NoError(t, w.Write(ctx, stream.At("one", 0)))
		require.ErrorIs(t, w.Write(ctx, stream.At("two\nlines", 0)), jsonl.ErrNewline)
		require.EqualError(t, w.Write(ctx, stream.At("", 0)), "jsonl: encode: empty")
		require.NoError(t, w.Write(ctx, stream.At("three", 0)))
		require.NoError(t, w.Sync(ctx))
		require.NoError(t, w.Close())
		assert.Equal(t, "one\nthree\n", buf.String())
	})
	t.Run("encoder of another type", func(t *testing.T) {
		w := jsonl.NewWriter[string](io.Discard, jsonl.Encoder(func(int) ([]byte, error) { return nil, nil }))
		require.ErrorIs(t, w.Write(context.Background(), stream.At("x", 0)), stream.ErrInvalid)
	})
	t.Run("close flushes after a failed run", func(t *testing.T) {
		var buf bytes.Buffer
		boom := errors.New("downstream of nothing: the source fails")
		p := stream.New()
		src := stream.SourceFunc[int](func(ctx context.Context, out stream.SourceOutput[int]) error {
			for i := range 3 {
				if err := out.Emit(stream.At(i, 0)); err != nil {
					return err
				}
			}
			return boom
		})
		stream.To(stream.From(p, src), jsonl.NewWriter[int](&buf))
		require.ErrorIs(t, p.Run(context.Background()), boom)
		assert.Equal(t, "0\n1\n2\n", buf.String())
	})
}

// repeatReader yields n copies of c.
type repeatReader struct {
	c byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = r.c
	}
	r.n -= k
	return k, nil
}

func TestHugeLineBecomesDeadLetter(t *testing.T) {
	t.Parallel()
	const huge = 40 << 20 // 40 MiB on one line, over the 16 MiB default
	r := io.MultiReader(strings.NewReader(`{"user":"before"}`+"\n"), &repeatReader{c: 'x', n: huge},
		strings.NewReader("\n"+`{"user":"after"}`+"\n"))
	res, err := run(t, jsonl.Reader(r, decodePlay))
	require.NoError(t, err)
	require.Len(t, res.good, 2)
	assert.Equal(t, "after", res.good[1].Value.User)
	require.Len(t, res.dead, 1)
	l := res.dead[0].Record.Value
	assert.ErrorIs(t, l.Err, jsonl.ErrLineTooLong)
	assert.Equal(t, int64(2), l.Num)
	assert.Equal(t, int64(len(`{"user":"before"}`)+1), l.Offset)
	assert.True(t, string(l.Raw) == strings.Repeat("x", 4096), "the first 4 KiB are kept (%d bytes)", len(l.Raw))
	assert.Equal(t, int64(huge), l.Size)
}

// TestStdin reads "-" (not parallel: it swaps os.Stdin for a pipe).
func TestStdin(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
	go func() {
		fmt.Fprintln(w, `{"user":"from-stdin"}`)
		fmt.Fprintln(w, `garbage`)
		w.Close()
	}()
	src := jsonl.File("-", decodePlay)
	res, err := run(t, src)
	require.NoError(t, err)
	require.Len(t, res.good, 1)
	assert.Equal(t, "from-stdin", res.good[0].Value.User)
	require.Len(t, res.dead, 1)
	assert.Equal(t, int64(2), res.dead[0].Record.Value.Num)
	require.NoError(t, src.Close(), "stdin is not closed by the source")
	_, err = os.Stdin.Stat()
	assert.NoError(t, err)
}
