package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/brook-streams/brook/internal/signals"
)

// signalError is the cause of a context that a signal cancelled.
type signalError struct{ sig os.Signal }

// signalName names a signal in messages.
var signalName = signals.Name

func (e *signalError) Error() string { return "stopped by " + signalName(e.sig) }

// cancelOnSignal returns a context that SIGINT or SIGTERM cancels, with a
// *signalError as its cause, and the function that stops listening.
func cancelOnSignal() (context.Context, func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, signals.Stop...)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			cancel(&signalError{sig: s})
		case <-done:
		}
	}()
	var stopped bool
	return ctx, func() {
		if stopped {
			return
		}
		stopped = true
		signal.Stop(sigs)
		close(done)
		<-finished
		cancel(nil)
	}
}

// stoppedBySignal reports whether a signal cancelled ctx; if so it writes
// the one line that says so to w and returns the exit status a shell
// reports for the signal (128 + its number).
func stoppedBySignal(ctx context.Context, w io.Writer) (int, bool) {
	var se *signalError
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &se) {
		return 0, false
	}
	_, _ = fmt.Fprintf(w, "quickstart: %v; it keeps no checkpoint: run it again to start over\n", se)
	return signals.ExitCode(se.sig, 1), true
}
