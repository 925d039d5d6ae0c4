package presence_test

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

// redisAddr is the test server: REDIS_URL, by default the local one.
var redisAddr = "redis://127.0.0.1:6379"

// TestMain needs a real Redis: without one the package is skipped, or
// fails when PUSHPULL_REQUIRE_SERVICES=1.
func TestMain(m *testing.M) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		redisAddr = u
	}
	opt, err := redis.ParseURL(redisAddr)
	if err == nil {
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		c.Close()
	}
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			fmt.Fprintf(os.Stderr, "no Redis at %s (REDIS_URL): %v\n", redisAddr, err)
			os.Exit(1)
		}
		fmt.Printf("skipping presence: no Redis at %s: %v\n", redisAddr, err)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// client returns a Redis client closed at the end of the test.
func client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(redisAddr)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var seq atomic.Int64

// keyPrefix returns a prefix of the test's own, whose keys are deleted at
// the end.
func keyPrefix(tb testing.TB) string {
	tb.Helper()
	prefix := fmt.Sprintf("pushpulltest:presence:%d:%d:", time.Now().UnixNano(), seq.Add(1))
	c := client(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}
