package main

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProgressDraw(t *testing.T) {
	t.Parallel()
	var out, stdout bytes.Buffer
	var count atomic.Int64
	count.Store(250)
	p := &progress{w: &out, total: 1000, unit: "events", count: &count, stop: make(chan struct{}), start: time.Now()}
	p.draw()
	assert.True(t, strings.HasPrefix(out.String(), "\r  [████████░░░░░░░░░░░░░░░░░░░░░░]  25.0%  250 / 1,000 events  "), "%q", out.String())
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
