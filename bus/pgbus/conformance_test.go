package pgbus_test

import (
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func TestConformance(t *testing.T) {
	url := pgURL(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		return newBroker(tb, url, freshPrefix(tb, url))
	})
}

func TestConformanceSmall(t *testing.T) {
	url := pgURL(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		b := newBroker(tb, url, freshPrefix(tb, url))
		// MaxLag above a quarter of the history, as bustest requires: a
		// burst of 250 publications takes longer than StallTimeout here,
		// each being a transaction.
		b.HistorySize, b.Buffer, b.MaxLag, b.StallTimeout = 1000, 1, 300, 500*time.Millisecond
		return b
	})
}
