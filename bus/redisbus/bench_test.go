package redisbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func BenchmarkRedis(b *testing.B) {
	url := redisURL(b)
	bustest.Bench(b, func(tb testing.TB) bus.Broker { return newBroker(tb, url, freshPrefix(tb, url)) })
}
