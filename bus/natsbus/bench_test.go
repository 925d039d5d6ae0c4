package natsbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func BenchmarkNATS(b *testing.B) {
	bustest.Bench(b, func(tb testing.TB) bus.Broker {
		stream, prefix := freshStream(tb)
		return newBroker(tb, connect(tb), stream, prefix)
	})
}
