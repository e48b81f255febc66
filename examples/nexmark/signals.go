package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/brook-streams/brook/internal/signals"
)

// stopSignals stop a run: SIGINT (Ctrl-C) and SIGTERM alike.
var stopSignals = signals.Stop

// signalName names a signal in messages.
var signalName = signals.Name

// stoppedError is the cause of a run's context that a signal cancelled.
// nexmark keeps no checkpoint (a benchmark run is cheap to repeat), so a
// signal cancels the run at once: nothing fires early, nothing more is
// written, and the same command starts over.
type stoppedError struct {
	sig   os.Signal
	after time.Duration // since the run started
}

func (e *stoppedError) Error() string {
	return fmt.Sprintf("stopped by %s after %v; nexmark keeps no checkpoint: run the same command again to start over",
		signalName(e.sig), e.after.Round(time.Millisecond))
}

// exitCode is 128 plus the signal's number, as a shell reports a command a
// signal ended.
func (e *stoppedError) exitCode() int {
	return signals.ExitCode(e.sig, exitRun)
}

// cancelOnSignal returns a context that the first signal on sigs cancels
// with a *stoppedError as its cause, and a function that ends the watch.
func cancelOnSignal(parent context.Context, sigs <-chan os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			cancel(&stoppedError{sig: s, after: time.Since(start)})
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		<-finished
		cancel(nil)
	}
}
