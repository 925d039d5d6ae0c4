package redisbus_test

import (
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func TestConformance(t *testing.T) {
	url := redisURL(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		return newBroker(tb, url, freshPrefix(tb, url))
	})
}

func TestConformanceSmall(t *testing.T) {
	url := redisURL(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		b := newBroker(tb, url, freshPrefix(tb, url))
		b.HistorySize, b.Buffer, b.MaxLag, b.StallTimeout = 1000, 1, 8, 500*time.Millisecond
		return b
	})
}
