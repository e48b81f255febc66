package main

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestProgressDraw(t *testing.T) {
	t.Parallel()
	var out, stdout bytes.Buffer
	var count atomic.Int64
	count.Store(250)
	p := &progress{w: &out, total: 1000, unit: "events", count: &count, cols: func() int { return 80 }, stop: make(chan struct{}), start: time.Now()}
	p.draw()
	assert.True(t, strings.HasPrefix(out.String(), "\r  [██"), "%q", out.String())
	assert.Contains(t, out.String(), "░]  25.0%  250 / 1,000 events  ")
	assert.True(t, strings.HasSuffix(out.String(), "\x1b[K"))

	out.Reset()
	p.println(&stdout, "  Wave 1 -- done")
	assert.Equal(t, "\r\x1b[K", out.String(), "the bar is erased before a line is printed")
	assert.Equal(t, "  Wave 1 -- done\n", stdout.String())

	out.Reset()
	p.total = 0
	p.draw()
	assert.True(t, strings.HasPrefix(out.String(), "\r  250 events  "), "%q", out.String())
}

// TestProgressLineFitsTheTerminal: the bar is one column narrower than the
// terminal whatever its width (a wrapped line leaves stale lines behind),
// and says when the run will end.
func TestProgressLineFitsTheTerminal(t *testing.T) {
	t.Parallel()
	var count atomic.Int64
	count.Store(1_250_000)
	for _, cols := range []int{20, 40, 60, 80, 120, 200} {
		p := &progress{total: 5_000_000, unit: "events", count: &count, cols: func() int { return cols }}
		line := p.line(5 * time.Second) // 250,000/s: 15 s to go
		assert.LessOrEqual(t, utf8.RuneCountInString(line), cols-1, "%d columns: %q", cols, line)
		if cols >= 80 {
			assert.Contains(t, line, "ETA 15s", "%d columns", cols)
			assert.Contains(t, line, "1,250,000 / 5,000,000 events")
			assert.Contains(t, line, "250,000/s")
		}
		if cols >= 60 {
			assert.Contains(t, line, " 25.0%")
			assert.Contains(t, line, "░", "a bar")
		}
	}
	count.Store(5_000_000)
	p := &progress{total: 5_000_000, unit: "events", count: &count, cols: func() int { return 80 }}
	assert.NotContains(t, p.line(time.Second), "ETA", "no ETA once done")
}

func TestProgressGraceAndEnd(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var count atomic.Int64
	p := startProgress(&out, &count, 10, "events", time.Hour, time.Hour)
	p.end()
	assert.Empty(t, out.String(), "nothing drawn within the grace period")

	var nilBar *progress
	var stdout bytes.Buffer
	nilBar.println(&stdout, "x")
	nilBar.end()
	assert.Equal(t, "x\n", stdout.String())
}
