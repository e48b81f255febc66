// Package redistest starts private redis-server instances for tests: on a free
// loopback port, without persistence, stopped in the test's Cleanup. Without
// the binary a test skips, unless the CI environment variable is set, where
// that is a failure. It is not API.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Start starts a private redis-server on a free loopback port and returns a
// client for it; both are stopped in Cleanup. Without the binary it skips,
// unless CI is set, where that is a failure.
func Start(tb testing.TB) *goredis.Client {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/redis-server"); statErr == nil {
			bin, err = "/usr/bin/redis-server", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server not found (CI=%s): %v", os.Getenv("CI"), err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
	var lastErr error
	for range 5 { // a freed port may be taken by someone else before we bind it
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "yes")
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
		if lastErr = waitReady(client, exited); lastErr == nil {
			tb.Cleanup(func() {
				_ = client.Close()
				_ = cmd.Process.Kill()
				waitKilled(exited)
			})
			return client
		}
		_ = client.Close()
		_ = cmd.Process.Kill()
		waitKilled(exited)
	}
	tb.Fatalf("redis-server did not come up: %v", lastErr)
	return nil
}

// waitKilled waits for a server this package killed to exit; its exit
// status only says it was killed, so it is dropped.
func waitKilled(exited <-chan error) {
	if err := <-exited; err != nil {
		return
	}
}

// waitReady polls PING until the server answers, exits, or 10 s pass.
func waitReady(client *goredis.Client, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case e := <-exited:
			return &exitError{e}
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond) // polling for readiness, not waiting for an outcome
	}
}

type exitError struct{ err error }

func (e *exitError) Error() string { return "redis-server exited: " + errString(e.err) }

func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
