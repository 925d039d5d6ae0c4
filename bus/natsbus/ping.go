package natsbus

import (
	"context"
	"fmt"

	"github.com/pushpull/pushpull/bus"
)

var _ bus.Pinger = (*Broker)(nil)

// Ping implements bus.Pinger: it makes one round trip to the server (a
// flush), within RequestTimeout. It fails at once while the connection is
// down or reconnecting.
func (b *Broker) Ping(ctx context.Context) error {
	b.init()
	if b.isClosed() {
		return bus.ErrClosed
	}
	if !b.Conn.IsConnected() {
		return fmt.Errorf("natsbus: not connected (%s)", b.Conn.Status())
	}
	ctx, cancel := b.request(ctx)
	defer cancel()
	start := b.clock()
	err := b.Conn.FlushWithContext(ctx)
	b.roundTrip("ping", start, err)
	if err != nil {
		return fmt.Errorf("natsbus: ping: %w", err)
	}
	return nil
}
