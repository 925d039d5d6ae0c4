package natsbus

import (
	"context"

	"github.com/pushpull/pushpull/bus"
)

// ReadAfter is the history read that feeds lagging subscribers, for the
// tests.
func (b *Broker) ReadAfter(ctx context.Context, topic string, after bus.Position, limit int) ([]bus.Message, error) {
	b.init()
	return b.readAfter(ctx, nil, topic, after, limit)
}
