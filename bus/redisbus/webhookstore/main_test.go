package webhookstore_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestMain runs the tests and examples, which all need Redis, against a
// real server. Without one the package is skipped as a whole, or fails
// when PUSHPULL_REQUIRE_SERVICES=1.
func TestMain(m *testing.M) { redistest.Main(m, "webhookstore") }

// redisURL is the test server: REDIS_URL, by default the local one.
var redisURL = redistest.URL()

// newClient returns a client of its own, closed when the test ends.
func newClient(tb testing.TB) redis.UniversalClient { return redistest.Client(tb) }

// freshPrefix returns a key prefix no other test uses, whose keys are
// deleted when the test ends.
func freshPrefix(tb testing.TB) string { return redistest.Prefix(tb, "webhookstore") }

// deleteKeys deletes every key starting with prefix.
func deleteKeys(c redis.UniversalClient, prefix string) { redistest.DeleteKeys(c, prefix) }
