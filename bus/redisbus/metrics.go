package redisbus

import (
	"context"
	"errors"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// name is the broker's name in the events it reports.
const name = "redis"

// Publish implements bus.Publisher.
func (b *Broker) Publish(ctx context.Context, topic string, m bus.Message) (out bus.Message, err error) {
	err = b.report().Publish(topic, len(m.Data), func() error {
		out, err = b.publish(ctx, topic, m)
		return err
	})
	return out, err
}

// report is the reporter of the broker's events.
func (b *Broker) report() metrics.Broker { return metrics.Broker{Recorder: b.Metrics, Name: name} }

// expired reports err when it is an expired cursor that op ("subscribe",
// "read") refused, and returns it.
func (b *Broker) expired(op, topic string, err error) error {
	if errors.Is(err, bus.ErrCursorExpired) {
		b.report().CursorExpired(op, topic)
	}
	return err
}
