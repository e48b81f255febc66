//go:build unix

package main

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSignalCancels sends a real SIGTERM and SIGINT to this process while
// cancelOnSignal listens: each cancels the context, and stoppedBySignal
// prints the one line and the status a shell reports. (The quick start
// itself ends in microseconds, too soon to signal a built binary.)
func TestSignalCancels(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		ctx, stop := cancelOnSignal()
		if _, ok := stoppedBySignal(ctx, io.Discard); ok {
			t.Fatal("stopped before any signal")
		}
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%v did not cancel the context", sig)
		}
		var buf bytes.Buffer
		code, ok := stoppedBySignal(ctx, &buf)
		stop()
		if !ok || code != 128+int(sig) {
			t.Fatalf("%v: stopped %v, exit %d", sig, ok, code)
		}
		want := "quickstart: stopped by " + signalName(sig) + "; it keeps no checkpoint: run it again to start over\n"
		if buf.String() != want {
			t.Fatalf("%v: printed %q, want %q", sig, buf.String(), want)
		}
	}
}
