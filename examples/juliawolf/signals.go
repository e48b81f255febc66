package main

import (
	"fmt"
	"os"

	"github.com/brook-streams/brook/internal/signals"
)

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
	name := signals.Name(e.sig)
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
