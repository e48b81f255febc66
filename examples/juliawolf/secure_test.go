package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brook-streams/brook/internal/redistest"
	"github.com/brook-streams/brook/stream/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A Kafka that requires SCRAM: produce reaches it with -kafka-sasl and the
// password from the environment, and every play lands in the topic; without
// the flags the same command is refused by the broker.
func TestProduceWithSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "plays"),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "jw", "s3cret"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	t.Setenv(kafkaPasswordEnv, "s3cret")

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = runProduce(ctx, nil, []string{"-brokers", addr, "-topic", "plays", "-events", "300", "-quiet",
		"-kafka-sasl", "scram-sha-256", "-kafka-user", "jw"}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("plays"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	require.Error(t, func() error { // without SASL the broker refuses to serve
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		return cl.Ping(pctx)
	}(), "kfake requires SASL: an unauthenticated client must not get through")
	cl.Close()

	opts, err := (&kafkaSecurity{saslMechanism: "SCRAM-SHA-256", saslUsername: "jw"}).options()
	require.NoError(t, err)
	cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics("plays"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	require.NoError(t, err)
	defer cl.Close()
	n, ends := 0, 0 // plays, and the final watermarks (one per partition)
	for n < 300 || ends < 2 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of 300 plays, %d of 2 final watermarks", n, ends)
		for _, e := range fs.Errors() {
			require.NoError(t, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == kafka.WatermarkOnlyHeader {
					ends++
					return
				}
			}
			n++
		})
	}
	assert.Equal(t, 300, n)
	assert.Equal(t, 2, ends)
}

// Bad security flags are usage errors found before anything connects, and
// no message repeats a password.
func TestSecurityFlagErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	cases := []struct {
		name string
		sec  kafkaSecurity
		env  bool
		want string
	}{
		{"user without mechanism", kafkaSecurity{saslUsername: "u"}, true, "-kafka-user needs -kafka-sasl"},
		{"mechanism without user", kafkaSecurity{saslMechanism: "PLAIN"}, true, "needs -kafka-user"},
		{"no password", kafkaSecurity{saslMechanism: "PLAIN", saslUsername: "u"}, false, "$" + kafkaPasswordEnv},
		{"unknown mechanism", kafkaSecurity{saslMechanism: "GSSAPI", saslUsername: "u"}, true, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"missing CA file", kafkaSecurity{caFile: filepath.Join(dir, "nope.pem")}, false, "-kafka-ca"},
		{"CA file without PEM", kafkaSecurity{caFile: notPEM}, false, "no PEM certificate"},
		{"cert without key", kafkaSecurity{certFile: notPEM}, false, "-kafka-cert and -kafka-key go together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env {
				t.Setenv(kafkaPasswordEnv, "hunter2")
			} else {
				t.Setenv(kafkaPasswordEnv, "")
				require.NoError(t, os.Unsetenv(kafkaPasswordEnv))
			}
			_, err := tc.sec.options()
			require.Error(t, err)
			var ue usageError
			assert.True(t, errors.As(err, &ue), "a usage error: %v", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
	opts, err := (&kafkaSecurity{tls: true}).options()
	require.NoError(t, err)
	assert.Len(t, opts, 1, "-kafka-tls alone: TLS with the system's roots")
}

func TestRedisOptions(t *testing.T) {
	opt, err := redisOptions("127.0.0.1:6379")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6379", opt.Addr)
	assert.Nil(t, opt.TLSConfig)

	opt, err = redisOptions("redis://jw:pa55@cache.example:6380/2")
	require.NoError(t, err)
	assert.Equal(t, "cache.example:6380", opt.Addr)
	assert.Equal(t, "jw", opt.Username)
	assert.Equal(t, "pa55", opt.Password)
	assert.Equal(t, 2, opt.DB)
	assert.Nil(t, opt.TLSConfig)
	assert.Equal(t, "cache.example:6380", redisName(opt), "messages name the address, not the URL")

	opt, err = redisOptions("rediss://:pa55@cache.example:6380")
	require.NoError(t, err)
	require.NotNil(t, opt.TLSConfig, "rediss:// is TLS")
	assert.Equal(t, "pa55", opt.Password)

	for _, bad := range []string{"redis://jw:pa55@cache.example:6380/notadb", "http://jw:pa55@cache.example"} {
		_, err = redisOptions(bad)
		require.Error(t, err, bad)
		var ue usageError
		assert.True(t, errors.As(err, &ue))
		assert.False(t, strings.Contains(err.Error(), "pa55"), "the password stays out of the message: %v", err)
	}
}

// The report reaches a password-protected Redis through a URL.
func TestReportRedisURLWithPassword(t *testing.T) {
	rdb := redistest.Start(t)
	ctx := context.Background()
	require.NoError(t, rdb.ConfigSet(ctx, "requirepass", "pa55").Err())
	addr := rdb.Options().Addr
	var stdout, stderr bytes.Buffer
	err := runReport(ctx, nil, []string{"-redis", "redis://127.0.0.1" + addr[strings.LastIndex(addr, ":"):], "-json", "", "-quiet", "-connect-timeout", "5s"}, &stdout, &stderr)
	require.Error(t, err, "no password: refused")
	assert.Contains(t, err.Error(), "unreachable")
	stdout.Reset()
	stderr.Reset()
	err = runReport(ctx, nil, []string{"-redis", "redis://:pa55@127.0.0.1" + addr[strings.LastIndex(addr, ":"):], "-json", "", "-quiet", "-connect-timeout", "5s"}, &stdout, &stderr)
	if err != nil {
		assert.NotContains(t, err.Error(), "pa55")
		assert.NotContains(t, err.Error(), "unreachable", "with the password the server answers")
	}
}
