package pgbus

import (
	"context"
	"fmt"

	"github.com/pushpull/pushpull/bus"
)

var _ bus.Pinger = (*Broker)(nil)

// Ping implements bus.Pinger: it runs an empty statement on a connection
// of Pool, connecting one if none is idle.
func (b *Broker) Ping(ctx context.Context) error {
	b.init()
	if err := b.begin(); err != nil {
		return err
	}
	defer b.calls.Done()
	start := b.clock()
	err := b.Pool.Ping(ctx)
	b.roundTrip("ping", start, err)
	if err != nil {
		return fmt.Errorf("pgbus: ping: %w", err)
	}
	return nil
}
