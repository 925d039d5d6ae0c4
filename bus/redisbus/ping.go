package redisbus

import (
	"context"
	"fmt"

	"github.com/pushpull/pushpull/bus"
)

var _ bus.Pinger = (*Broker)(nil)

// Ping implements bus.Pinger: it sends PING on a connection of Client.
func (b *Broker) Ping(ctx context.Context) error {
	b.init()
	if err := b.begin(); err != nil {
		return err
	}
	defer b.calls.Done()
	start := b.report().Start()
	err := b.Client.Ping(ctx).Err()
	b.report().RoundTrip("ping", start, err)
	if err != nil {
		return fmt.Errorf("redisbus: ping: %w", err)
	}
	return nil
}
