package redis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLRU(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	type step struct {
		op    string // "put" or "get"
		key   string
		val   int
		found bool
		at    time.Duration
		// for get: the expected answer
		wantOK bool
	}
	cases := []struct {
		name  string
		size  int
		ttl   time.Duration
		steps []step
		len   int
	}{
		{"hit and miss", 2, time.Minute, []step{
			{op: "put", key: "a", val: 1, found: true},
			{op: "get", key: "a", val: 1, found: true, wantOK: true},
			{op: "get", key: "b", wantOK: false},
		}, 1},
		{"absence is cached", 2, time.Minute, []step{
			{op: "put", key: "a", found: false},
			{op: "get", key: "a", found: false, wantOK: true},
		}, 1},
		{"least recently used is evicted", 2, time.Minute, []step{
			{op: "put", key: "a", val: 1, found: true},
			{op: "put", key: "b", val: 2, found: true},
			{op: "get", key: "a", val: 1, found: true, wantOK: true}, // b is now least recent
			{op: "put", key: "c", val: 3, found: true},
			{op: "get", key: "b", wantOK: false},
			{op: "get", key: "a", val: 1, found: true, wantOK: true},
			{op: "get", key: "c", val: 3, found: true, wantOK: true},
		}, 2},
		{"update keeps one entry", 2, time.Minute, []step{
			{op: "put", key: "a", val: 1, found: true},
			{op: "put", key: "a", val: 5, found: true},
			{op: "get", key: "a", val: 5, found: true, wantOK: true},
		}, 1},
		{"expiry", 2, time.Second, []step{
			{op: "put", key: "a", val: 1, found: true},
			{op: "get", key: "a", val: 1, found: true, at: 999 * time.Millisecond, wantOK: true},
			{op: "get", key: "a", at: time.Second, wantOK: false},
		}, 0},
		{"update renews expiry", 2, time.Second, []step{
			{op: "put", key: "a", val: 1, found: true},
			{op: "put", key: "a", val: 2, found: true, at: 500 * time.Millisecond},
			{op: "get", key: "a", val: 2, found: true, at: 1200 * time.Millisecond, wantOK: true},
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newLRU[string, int](tc.size, tc.ttl)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.op == "put" {
					c.put(s.key, s.val, s.found, now)
					continue
				}
				v, found, ok := c.get(s.key, now)
				assert.Equal(t, s.wantOK, ok, "step %d", i)
				if ok {
					assert.Equal(t, s.val, v, "step %d", i)
					assert.Equal(t, s.found, found, "step %d", i)
				}
			}
			assert.Equal(t, tc.len, c.len())
		})
	}
}
