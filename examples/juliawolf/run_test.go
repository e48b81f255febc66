package main

import (
	"context"
	"io"
)

// run is the whole program: it parses args, runs, reports, and returns the
// exit status. Errors go to stderr as one line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWithSignals(ctx, nil, args, stdin, stdout, stderr)
}
