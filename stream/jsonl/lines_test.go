package jsonl

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refLines splits data the brute-force way: on every "\n", with a last line
// only if data does not end in "\n".
func refLines(data []byte, max int) []rawLine {
	var out []rawLine
	var off int64
	for num := int64(1); off < int64(len(data)); num++ {
		rest := data[off:]
		n := bytes.IndexByte(rest, '\n')
		step := n + 1
		if n < 0 {
			n, step = len(rest), len(rest)
		}
		l := rawLine{num: num, offset: off, size: int64(n), bytes: rest[:n], cr: n > 0 && rest[n-1] == '\r'}
		if n > max && (n > max+1 || rest[n-1] != '\r') {
			l.tooLong = true
			l.bytes = rest[:min(n, tooLongPrefix)]
		}
		out = append(out, l)
		off += int64(step)
	}
	return out
}

func readAll(t testing.TB, data []byte, bufSize, max int) ([]rawLine, int64) {
	lr := newLineReader(bytes.NewReader(data), bufSize, max)
	var out []rawLine
	for {
		l, err := lr.next()
		if err == io.EOF {
			return out, lr.off
		}
		require.NoError(t, err)
		l.bytes = bytes.Clone(l.bytes)
		out = append(out, l)
	}
}

func checkLines(t testing.TB, data []byte, bufSize, max int) {
	got, end := readAll(t, data, bufSize, max)
	want := refLines(data, max)
	require.Equal(t, len(want), len(got), "line count")
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.num, g.num, "line %d number", i)
		require.Equal(t, w.offset, g.offset, "line %d offset", i)
		require.Equal(t, w.size, g.size, "line %d size", i)
		require.Equal(t, w.tooLong, g.tooLong, "line %d too long", i)
		require.Equal(t, w.cr, g.cr, "line %d ends in CR", i)
		require.Equal(t, string(w.bytes), string(g.bytes), "line %d bytes", i)
	}
	require.Equal(t, int64(len(data)), end, "bytes consumed")
}

func TestLineReader(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("x"), 3000)
	cases := []struct {
		name string
		data string
		max  int
	}{
		{"empty", "", 10},
		{"one line no newline", `{"a":1}`, 10},
		{"one line", "{\"a\":1}\n", 10},
		{"blank lines", "\n\n\n", 10},
		{"crlf", "a\r\nb\r\n", 10},
		{"exactly max with crlf", "0123456789\r\nab\r\n", 10},
		{"one over max with crlf", "0123456789X\r\nab\r\n", 10},
		{"max plus cr at the end", "ab\n0123456789\r", 10},
		{"max plus a byte other than cr", "0123456789\n\r\n", 10},
		{"exactly max", "0123456789\nab\n", 10},
		{"one over max", "0123456789X\nab\n", 10},
		{"too long last without newline", "ab\n0123456789XYZ", 10},
		{"long line prefix kept", string(long) + "\nok\n", 100},
		{"long line spans buffers", "a\n" + string(long) + "\n" + string(long[:50]) + "\n", 2048},
	}
	for _, c := range cases {
		for _, buf := range []int{16, 64, 4096} {
			t.Run(c.name, func(t *testing.T) {
				checkLines(t, []byte(c.data), buf, c.max)
			})
		}
	}
}

func TestLineReaderRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\n\r{}")
	for i := range 2000 {
		data := make([]byte, rng.IntN(400))
		for j := range data {
			data[j] = alphabet[rng.IntN(len(alphabet))]
		}
		max := 1 + rng.IntN(40)
		buf := 16 + rng.IntN(40)
		if t.Failed() {
			t.Fatalf("case %d", i)
		}
		checkLines(t, data, buf, max)
	}
}

func TestTrimLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		first bool
		want  string
	}{
		{"abc\r", false, "abc"},
		{"\xEF\xBB\xBF{}", true, "{}"},
		{"\xEF\xBB\xBF{}", false, "\xEF\xBB\xBF{}"},
		{"abc", false, "abc"},
		{"\r", true, ""},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, string(trimLine([]byte(c.in), c.first)), "%q", c.in)
	}
	assert.True(t, blank([]byte(" \t\r")))
	assert.True(t, blank(nil))
	assert.False(t, blank([]byte(" x ")))
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}"), uint8(16), uint8(8))
	f.Add([]byte("\n\n\r\n"), uint8(0), uint8(0))
	f.Add(bytes.Repeat([]byte("y"), 5000), uint8(3), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, buf, max uint8) {
		checkLines(t, data, 16+int(buf), 1+int(max))
	})
}
