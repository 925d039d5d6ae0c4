// Package redistest gives the tests of redisbus's subpackages a Redis
// server and key prefixes of their own.
package redistest

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

// Main runs the tests of package pkg, which all need Redis, against a real
// server: without one it skips the package as a whole, or fails it when
// PUSHPULL_REQUIRE_SERVICES=1. Goroutines left running fail the package
// (goleak). Call it from TestMain.
func Main(m *testing.M, pkg string) {
	url := URL()
	if err := ping(url); err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			fmt.Fprintf(os.Stderr, "no Redis at %s (REDIS_URL): %v\n", url, err)
			os.Exit(1)
		}
		fmt.Printf("skipping %s: no Redis at %s (set REDIS_URL, or run redis-server): %v\n", pkg, url, err)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func ping(url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// URL returns the test server's URL: REDIS_URL, by default the local
// server.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// Client returns a client of its own, closed when the test ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var seq atomic.Int64

// Prefix returns a key prefix, starting with "pushpulltest:"+name+":",
// that no other test uses; its keys are deleted when the test ends.
func Prefix(tb testing.TB, name string) string {
	tb.Helper()
	prefix := fmt.Sprintf("pushpulltest:%s:%d:%d:", name, time.Now().UnixNano(), seq.Add(1))
	c := Client(tb)
	tb.Cleanup(func() { DeleteKeys(c, prefix) })
	return prefix
}

// DeleteKeys deletes every key starting with prefix.
func DeleteKeys(c redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
