package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/brook-streams/brook/internal/signals"
)

// stopSignals stop a run: SIGINT (Ctrl-C) and SIGTERM alike.
var stopSignals = signals.Stop

// signalName names a signal in messages.
var signalName = signals.Name

// stoppedError is how a run that a signal stopped ends. With
// -checkpoint-dir the first signal stops the pipeline with a savepoint
// (stream.Pipeline.Stop: no partial window fires, the final checkpoint is
// stored) and the same command resumes it; a second signal, or a run
// without checkpoints, cancels it at once.
type stoppedError struct {
	sig       os.Signal
	dir       string // -checkpoint-dir, "" without checkpoints
	savepoint bool   // the final checkpoint was stored
}

func (e *stoppedError) Error() string {
	name := signalName(e.sig)
	switch {
	case e.dir == "":
		return fmt.Sprintf("stopped by %s (without -checkpoint-dir there is nothing to resume)", name)
	case e.savepoint:
		return fmt.Sprintf("stopped by %s with a checkpoint in %s: run the same command again to resume", name, e.dir)
	default:
		return fmt.Sprintf("stopped by %s before a final checkpoint: run the same command again to resume from the last one in %s", name, e.dir)
	}
}

// exitCode is 128 plus the signal's number, as a shell reports a command a
// signal ended.
func (e *stoppedError) exitCode() int {
	return signals.ExitCode(e.sig, exitRun)
}

// watchSignals acts on the signals arriving on sigs while a pipeline runs:
// the first calls stop (which must not block), any later one cancel. The
// function it returns ends the watch, waits for what stop started, and
// returns the first signal, or nil if none came.
func watchSignals(sigs <-chan os.Signal, stop func(*sync.WaitGroup), cancel context.CancelFunc) (end func() os.Signal) {
	return signals.Watch(sigs, stop, cancel)
}
