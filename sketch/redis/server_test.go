package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/brook-streams/brook/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRedis starts a private redis-server for the test (see
// internal/redistest): it skips without the binary unless CI is set.
func startRedis(tb testing.TB) *goredis.Client { return redistest.Start(tb) }
