// Package signals holds what the example programs share about the signals
// that stop them: which signals, how a message names one, and the exit
// status a shell reports for a command a signal ended.
package signals

import (
	"os"
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
