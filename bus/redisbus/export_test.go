package redisbus

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

// Plain makes b use plain PUB/SUB even on a Redis Cluster that supports
// sharded PUB/SUB, for the tests and benchmarks that compare them.
func Plain(b *Broker) *Broker {
	b.plain = true
	return b
}

// Slot is the hash slot of a key, for the tests.
func Slot(key string) uint16 { return slot(key) }
