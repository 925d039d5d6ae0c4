package redisbus_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// A go-redis pool that failed to dial a killed node probes it once a
// second, and notices only after its next sleep that it was closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// redisURL returns the URL of the test server, skipping the test when none
// answers (failing it when PUSHPULL_REQUIRE_SERVICES=1).
func redisURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("no Redis at %s (REDIS_URL): %v", url, err)
		}
		tb.Skipf("no Redis at %s (set REDIS_URL, or run redis-server): %v", url, err)
	}
	return url
}

var prefixSeq atomic.Int64

// freshPrefix returns a key prefix no other test uses, and deletes its keys
// when the test ends.
func freshPrefix(tb testing.TB, url string) string {
	tb.Helper()
	prefix := fmt.Sprintf("pushpulltest:%d:%d:", time.Now().UnixNano(), prefixSeq.Add(1))
	tb.Cleanup(func() {
		opt, _ := redis.ParseURL(url)
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// newBroker returns a broker on its own connection pool and key prefix.
func newBroker(tb testing.TB, url, prefix string) *redisbus.Broker {
	tb.Helper()
	b, err := redisbus.New(url)
	if err != nil {
		tb.Fatal(err)
	}
	b.Prefix = prefix
	return b
}
