package presence_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestMain needs a real Redis: without one the package is skipped, or
// fails when PUSHPULL_REQUIRE_SERVICES=1.
func TestMain(m *testing.M) { redistest.Main(m, "presence") }

// client returns a Redis client closed at the end of the test.
func client(tb testing.TB) *redis.Client { return redistest.Client(tb) }

// keyPrefix returns a prefix of the test's own, whose keys are deleted at
// the end.
func keyPrefix(tb testing.TB) string { return redistest.Prefix(tb, "presence") }

// redisAddr is the test server: REDIS_URL, by default the local one.
var redisAddr = redistest.URL()
