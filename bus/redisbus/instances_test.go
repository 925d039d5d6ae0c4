package redisbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

// Two brokers with their own connections, as two processes would have,
// share topics through Redis.
func TestTwoInstances(t *testing.T) {
	url := redisURL(t)
	bustest.RunInstances(t, func(tb testing.TB) (bus.Broker, bus.Broker) {
		prefix := freshPrefix(tb, url)
		return newBroker(tb, url, prefix), newBroker(tb, url, prefix)
	})
}
