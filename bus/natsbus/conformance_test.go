package natsbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func TestConformance(t *testing.T) {
	if nc := connect(t); nc.MaxPayload() < 2<<20 {
		t.Fatalf("the NATS server at %s takes messages of at most %d bytes, and the suite publishes 1 MiB: "+
			"start it with max_payload: 2MB, or unset NATS_URL to use an embedded server", natsURL, nc.MaxPayload())
	}
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		stream, prefix := freshStream(tb)
		return newBroker(tb, connect(tb), stream, prefix)
	})
}
