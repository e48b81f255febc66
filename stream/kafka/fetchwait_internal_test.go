package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFetchMaxWait(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		exit, idle time.Duration
		want       time.Duration // 0: kgo's default
	}{
		{"defaults", 0, 10 * time.Second, 2500 * time.Millisecond},
		{"no idle durations", 0, 0, 0},
		{"long idle timeout", 0, time.Minute, 0},
		{"exit when idle", time.Second, 10 * time.Second, 250 * time.Millisecond},
		{"idle timeout shorter", 8 * time.Second, 2 * time.Second, 500 * time.Millisecond},
		{"long exit, no idle timeout", time.Hour, 0, 0},
		{"floor of kgo", 0, time.Millisecond, 10 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := fetchMaxWait(&sourceConfig{exitWhenIdle: c.exit, idleTimeout: c.idle})
			assert.Equal(t, c.want != 0, ok)
			assert.Equal(t, c.want, got)
		})
	}
}
