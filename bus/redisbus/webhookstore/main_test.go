package webhookstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// redisURL is the test server: REDIS_URL, by default the local one.
var redisURL = "redis://127.0.0.1:6379"

// TestMain runs the tests and examples, which all need Redis, against a
// real server. Without one the package is skipped as a whole, or fails
// when PUSHPULL_REQUIRE_SERVICES=1.
func TestMain(m *testing.M) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		redisURL = u
	}
	if err := ping(); err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			fmt.Fprintf(os.Stderr, "no Redis at %s (REDIS_URL): %v\n", redisURL, err)
			os.Exit(1)
		}
		fmt.Printf("skipping webhookstore: no Redis at %s (set REDIS_URL, or run redis-server): %v\n", redisURL, err)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func ping() error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// newClient returns a client of its own, closed when the test ends.
func newClient(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixSeq atomic.Int64

// freshPrefix returns a key prefix no other test uses, whose keys are
// deleted when the test ends.
func freshPrefix(tb testing.TB) string {
	tb.Helper()
	prefix := fmt.Sprintf("pushpulltest:webhookstore:%d:%d:", time.Now().UnixNano(), prefixSeq.Add(1))
	c := newClient(tb)
	tb.Cleanup(func() { deleteKeys(c, prefix) })
	return prefix
}

// deleteKeys deletes every key starting with prefix.
func deleteKeys(c redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
