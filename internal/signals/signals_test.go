package signals

import (
	"os"
	"sync"
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

func TestWatch(t *testing.T) {
	sigs := make(chan os.Signal)
	stopped, later := make(chan struct{}), 0
	end := Watch(sigs, func(wg *sync.WaitGroup) {
		wg.Go(func() { <-stopped })
	}, func() { later++ })
	sigs <- os.Interrupt
	sigs <- syscall.SIGTERM // unbuffered: taken by the watch before the send returns
	sigs <- syscall.SIGTERM
	close(stopped)
	if got := end(); got != os.Interrupt {
		t.Errorf("end() = %v, want the first signal", got)
	}
	if later != 2 {
		t.Errorf("later called %d times, want 2", later)
	}
	if got := Watch(nil, nil, nil)(); got != nil {
		t.Errorf("a nil channel: %v", got)
	}
	if got := Watch(make(chan os.Signal), nil, nil)(); got != nil {
		t.Errorf("no signal: %v", got)
	}
}
