package natsbus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// name is the broker's name in the events it reports.
const name = "nats"

// Publish implements bus.Publisher.
func (b *Broker) Publish(ctx context.Context, topic string, m bus.Message) (out bus.Message, err error) {
	err = b.report().Publish(topic, len(m.Data), func() error {
		out, err = b.publish(ctx, topic, m)
		return err
	})
	return out, err
}

// clock returns the start of a round trip: the zero Time, with no clock
// read, when there is no Recorder.
func (b *Broker) clock() time.Time { return b.report().Start() }

// roundTrip reports a request op to the server that began at start and
// returned err. A message not found is an answer, not an error.
func (b *Broker) roundTrip(op string, start time.Time, err error) {
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		err = nil
	}
	b.report().RoundTrip(op, start, err)
}

// expired reports err when it is an expired cursor that op ("subscribe",
// "read") refused, and returns it.
func (b *Broker) expired(op, topic string, err error) error {
	if errors.Is(err, bus.ErrCursorExpired) {
		b.report().CursorExpired(op, topic)
	}
	return err
}

// report is the reporter of the broker's events.
func (b *Broker) report() metrics.Broker { return metrics.Broker{Recorder: b.Metrics, Name: name} }

// brokerError reports a failure of the connection or the announcement
// feed.
func (b *Broker) brokerError(op string) { b.report().Error(op) }
