package pgbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

// Two brokers with their own pools, as two processes would have, share
// topics through PostgreSQL.
func TestTwoInstances(t *testing.T) {
	url := pgURL(t)
	bustest.RunInstances(t, func(tb testing.TB) (bus.Broker, bus.Broker) {
		prefix := freshPrefix(tb, url)
		return newBroker(tb, url, prefix), newBroker(tb, url, prefix)
	})
}
