package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
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
	// cols returns the terminal's width, read at every draw so a resized
	// terminal gets a bar that fits (a line that wraps leaves stale lines).
	cols func() int

	mu    sync.Mutex // serializes drawing with lines printed during the run
	drawn bool
	stop  chan struct{}
	done  sync.WaitGroup
	start time.Time
}

// startProgress starts drawing count against total on w every tick once
// grace has passed. Call stop to end it and erase the bar.
func startProgress(w io.Writer, count *atomic.Int64, total int64, unit string, grace, tick time.Duration) *progress {
	p := &progress{w: w, total: total, unit: unit, count: count, cols: terminalWidth(w), stop: make(chan struct{}), start: time.Now()}
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
	_, _ = io.WriteString(p.w, "\r"+p.line(time.Since(p.start))+"\x1b[K")
	p.drawn = true
}

// line is the bar after elapsed: "  [███░░░]  25.0%  250 / 1,000 events
// 5,000/s  ETA 3s", one column narrower than the terminal (so it never
// wraps), the bar taking what the figures leave (10 to 40 cells); on a
// narrow terminal the figures go first, from the right.
func (p *progress) line(elapsed time.Duration) string {
	n := p.count.Load()
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	room := 79
	if p.cols != nil {
		room = p.cols() - 1
	}
	if p.total <= 0 {
		return cutRunes(fmt.Sprintf("  %s %s  %s/s", commas(n), p.unit, commas(int64(rate))), room)
	}
	frac := min(float64(n)/float64(p.total), 1)
	parts := []string{
		fmt.Sprintf("%5.1f%%", 100*frac),
		fmt.Sprintf("%s / %s %s", commas(n), commas(p.total), p.unit),
		commas(int64(rate)) + "/s",
	}
	if n > 0 && n < p.total {
		eta := time.Duration(float64(p.total-n) / rate * float64(time.Second))
		parts = append(parts, "ETA "+shortDuration(eta.Round(time.Second)))
	}
	for len(parts) > 1 {
		figures := strings.Join(parts, "  ")
		if bw := room - len("  [] ") - utf8.RuneCountInString(figures); bw >= 10 {
			return "  [" + bar(int64(frac*1000), 1000, min(bw, 40)) + "] " + figures
		}
		parts = parts[:len(parts)-1]
	}
	return cutRunes("  "+parts[0]+"  "+bar(int64(frac*1000), 1000, 10), room)
}

// terminalWidth returns a function reading the width of the terminal w
// is, or 80 when w is none or its size cannot be read.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	return func() int {
		if ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
		}
		return 80
	}
}

// clear erases the bar if it is drawn; the caller holds p.mu.
func (p *progress) clear() {
	if p.drawn {
		_, _ = io.WriteString(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// println writes a line to out (typically stdout) without mangling the bar:
// the bar is erased first and redrawn at the next tick. A nil p just writes.
func (p *progress) println(out io.Writer, line string) {
	if p == nil {
		_, _ = io.WriteString(out, line+"\n")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	_, _ = io.WriteString(out, strings.TrimSuffix(line, "\n")+"\n")
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
