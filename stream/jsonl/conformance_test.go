package jsonl_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
	"github.com/brook-streams/brook/stream/streamtest"
)

func TestSourceConforms(t *testing.T) {
	decode := func(b []byte) (int, error) {
		var v int
		err := json.Unmarshal(b, &v)
		return v, err
	}
	streamtest.TestSource(t, streamtest.SourceTest[jsonl.Line[int]]{
		New:        func() stream.Source[jsonl.Line[int]] { return jsonl.Reader(strings.NewReader("1\n2\nx\n4\n"), decode) },
		Bounded:    true,
		MinRecords: 4,
	})
}
