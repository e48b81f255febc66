package jsonl_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

// sourceLines runs a Source over data and returns every Line it emits.
func sourceLines(t *testing.T, data string, decode func([]byte) (string, error), opts ...jsonl.Option) []jsonl.Line[string] {
	t.Helper()
	p := stream.New(stream.WithParallelism(1))
	out := stream.Collect[jsonl.Line[string]]()
	stream.To(stream.From(p, jsonl.Reader(strings.NewReader(data), decode, opts...)), out)
	require.NoError(t, p.Run(context.Background()))
	return out.Values()
}

// TestScanAgreesWithSource: on random inputs (blank, long, CRLF, undecodable
// lines, a byte-order mark, a last line without "\n") Scan yields exactly
// the Lines a Source emits, with and without DecodeBlankLines.
func TestScanAgreesWithSource(t *testing.T) {
	t.Parallel()
	decode := func(b []byte) (string, error) {
		if strings.Contains(string(b), "x") {
			return "", errors.New("has an x")
		}
		return string(b), nil
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"ab", "x", " ", "\n", "\r\n", "\r", "{}", "\t", strings.Repeat("a", 30)}
	for i := range 300 {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteString("\xEF\xBB\xBF")
		}
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		data := b.String()
		opts := []jsonl.Option{jsonl.MaxLineBytes(1 + rng.IntN(40))}
		if rng.IntN(2) == 0 {
			opts = append(opts, jsonl.DecodeBlankLines())
		}
		want := append([]jsonl.Line[string]{}, sourceLines(t, data, decode, opts...)...)
		got := []jsonl.Line[string]{}
		for l, err := range jsonl.Scan(iotest.HalfReader(strings.NewReader(data)), decode, opts...) {
			require.NoError(t, err)
			got = append(got, l)
		}
		require.Equal(t, want, got, "case %d: %q", i, data)
	}
}

func TestScanReadErrorAndEarlyStop(t *testing.T) {
	t.Parallel()
	id := func(b []byte) (string, error) { return string(b), nil }
	boom := errors.New("disk on fire")
	in := iotest.TimeoutReader(strings.NewReader("a\nb\nc")) // the second read fails
	var lines []string
	var last error
	for l, err := range jsonl.Scan(errAfter{in, boom}, id) {
		if err != nil {
			last = err
			continue
		}
		lines = append(lines, l.Value)
	}
	assert.Equal(t, []string{"a", "b"}, lines)
	require.ErrorIs(t, last, boom)

	n := 0
	for range jsonl.Scan(strings.NewReader("1\n2\n3\n"), id) {
		if n++; n == 2 {
			break
		}
	}
	assert.Equal(t, 2, n)

	for _, err := range jsonl.Scan[string](strings.NewReader("1\n"), nil) {
		require.Error(t, err)
	}
}

// errAfter turns iotest.ErrTimeout into err.
type errAfter struct {
	r   interface{ Read([]byte) (int, error) }
	err error
}

func (e errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, iotest.ErrTimeout) {
		err = e.err
	}
	return n, err
}

func ExampleScan() {
	in := strings.NewReader("{\"n\":1}\n\nnot json\n{\"n\":2}\r\n")
	decode := func(b []byte) (string, error) {
		if b[0] != '{' {
			return "", errors.New("not an object")
		}
		return string(b), nil
	}
	for l, err := range jsonl.Scan(in, decode) {
		if err != nil {
			fmt.Println("read error:", err)
			break
		}
		if l.Err != nil {
			fmt.Printf("line %d: %v (%q)\n", l.Num, errors.Unwrap(l.Err), l.Raw)
			continue
		}
		fmt.Printf("line %d: %s\n", l.Num, l.Value)
	}
	// Output:
	// line 1: {"n":1}
	// line 3: not an object ("not json")
	// line 4: {"n":2}
}
