// Package signals holds what the example programs share about the signals
// that stop them: which signals, how a message names one, the exit status a
// shell reports for a command a signal ended, and a watch that acts on the
// first signal and the later ones.
package signals

import (
	"os"
	"sync"
	"syscall"
)

// Stop are the signals that stop a run: SIGINT (Ctrl-C) and SIGTERM alike.
var Stop = []os.Signal{os.Interrupt, syscall.SIGTERM}

// Name names s as a shell user knows it: SIGINT, SIGTERM, else s.String().
func Name(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// ExitCode is 128 plus the number of s, as a shell reports a command that
// s ended; fallback when s is not a syscall.Signal.
func ExitCode(s os.Signal, fallback int) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return fallback
}

// Watch acts on the signals arriving on sigs while a run goes on: the
// first calls first (which must not block; what it starts goes on wg),
// every later one calls later. The function it returns ends the watch,
// waits for what first started, and returns the first signal, or nil if
// none came. A nil sigs watches nothing.
func Watch(sigs <-chan os.Signal, first func(wg *sync.WaitGroup), later func()) (end func() os.Signal) {
	if sigs == nil {
		return func() os.Signal { return nil }
	}
	var (
		got      os.Signal
		started  sync.WaitGroup
		done     = make(chan struct{})
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		for {
			select {
			case s := <-sigs:
				if got == nil {
					got = s
					first(&started)
				} else {
					later()
				}
			case <-done:
				return
			}
		}
	}()
	return func() os.Signal {
		close(done)
		<-finished
		started.Wait()
		return got
	}
}
