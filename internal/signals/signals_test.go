package signals

import (
	"os"
	"syscall"
	"testing"
)

type fakeSignal struct{}

func (fakeSignal) String() string { return "fake" }
func (fakeSignal) Signal()        {}

func TestNameAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		name string
		code int
	}{
		{os.Interrupt, "SIGINT", 130},
		{syscall.SIGTERM, "SIGTERM", 143},
		{syscall.SIGHUP, "hangup", 129},
		{fakeSignal{}, "fake", 7},
	} {
		if got := Name(tc.sig); got != tc.name {
			t.Errorf("Name(%v) = %q, want %q", tc.sig, got, tc.name)
		}
		if got := ExitCode(tc.sig, 7); got != tc.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.sig, got, tc.code)
		}
	}
}
