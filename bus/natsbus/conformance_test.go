package natsbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func TestConformance(t *testing.T) {
	connect(t).Close()
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		stream, prefix := freshStream(tb)
		return newBroker(tb, connect(tb), stream, prefix)
	})
}
