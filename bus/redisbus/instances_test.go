package redisbus_test

import (
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/require"
)

// recv takes n messages from sub or fails.
func recv(t *testing.T, sub bus.Subscription, n int) []bus.Message {
	t.Helper()
	var out []bus.Message
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m, ok := <-sub.C():
			require.True(t, ok, "subscription ended after %d of %d: %v", len(out), n, sub.Err())
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("timed out after %d of %d messages", len(out), n)
		}
	}
	return out
}

// Two brokers with their own connections, as two processes would have,
// share topics through Redis.
func TestTwoInstances(t *testing.T) {
	url := redisURL(t)
	bustest.RunInstances(t, func(tb testing.TB) (bus.Broker, bus.Broker) {
		prefix := freshPrefix(tb, url)
		return newBroker(tb, url, prefix), newBroker(tb, url, prefix)
	})
}
