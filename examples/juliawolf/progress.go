package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a progress bar on a terminal while a long run goes on. It
// starts drawing only after a grace period, so a short run never shows it,
// and it reads a counter the source bumps, so the hot loop pays one atomic
// add per play and nothing else.
type progress struct {
	w     io.Writer
	total int64  // expected count, 0 when unknown
	unit  string // "events" or "bytes"
	count *atomic.Int64

	mu    sync.Mutex // serializes drawing with lines printed during the run
	drawn bool
	stop  chan struct{}
	done  sync.WaitGroup
	start time.Time
}

// startProgress starts drawing count against total on w every tick once
// grace has passed. Call stop to end it and erase the bar.
func startProgress(w io.Writer, count *atomic.Int64, total int64, unit string, grace, tick time.Duration) *progress {
	p := &progress{w: w, total: total, unit: unit, count: count, stop: make(chan struct{}), start: time.Now()}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.stop:
			return
		case <-timer.C:
		}
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for {
			p.draw()
			select {
			case <-p.stop:
				return
			case <-ticker.C:
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.count.Load()
	elapsed := time.Since(p.start).Seconds()
	rate := float64(n) / max(elapsed, 1e-9)
	var line string
	if p.total > 0 {
		frac := min(float64(n)/float64(p.total), 1)
		line = fmt.Sprintf("\r  [%s] %5.1f%%  %s / %s %s  %s/s ", bar(int64(frac*1000), 1000, 30),
			100*frac, commas(n), commas(p.total), p.unit, commas(int64(rate)))
	} else {
		line = fmt.Sprintf("\r  %s %s  %s/s ", commas(n), p.unit, commas(int64(rate)))
	}
	io.WriteString(p.w, line+"\x1b[K")
	p.drawn = true
}

// clear erases the bar if it is drawn; the caller holds p.mu.
func (p *progress) clear() {
	if p.drawn {
		io.WriteString(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// println writes a line to out (typically stdout) without mangling the bar:
// the bar is erased first and redrawn at the next tick. A nil p just writes.
func (p *progress) println(out io.Writer, line string) {
	if p == nil {
		io.WriteString(out, line+"\n")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	io.WriteString(out, strings.TrimSuffix(line, "\n")+"\n")
}

// end stops drawing and erases the bar. It is safe on a nil p.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
