package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// pipeline run, progress bar and child process waiter must be done.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
