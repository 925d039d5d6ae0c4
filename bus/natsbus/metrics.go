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
func (b *Broker) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	if b.Metrics == nil {
		return b.publish(ctx, topic, m)
	}
	start, size := time.Now(), len(m.Data)
	m, err := b.publish(ctx, topic, m)
	outcome := metrics.OutcomeOK
	if err != nil {
		outcome = metrics.OutcomeError
	}
	b.Metrics.Record(metrics.Event{Kind: metrics.BusPublished, Transport: name, Topic: topic,
		Outcome: outcome, Bytes: int64(size), Duration: time.Since(start)})
	return m, err
}

// clock returns the start of a round trip: the zero Time, with no clock
// read, when there is no Recorder.
func (b *Broker) clock() time.Time {
	if b.Metrics == nil {
		return time.Time{}
	}
	return time.Now()
}

// roundTrip reports a request op to the server that began at start and
// returned err. A message not found is an answer, not an error.
func (b *Broker) roundTrip(op string, start time.Time, err error) {
	if b.Metrics == nil {
		return
	}
	outcome := metrics.OutcomeOK
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		outcome = metrics.OutcomeError
	}
	b.Metrics.Record(metrics.Event{Kind: metrics.BrokerRoundTrip, Transport: name, Op: op, Outcome: outcome, Duration: time.Since(start)})
}

// expired reports err when it is an expired cursor that op ("subscribe",
// "read") refused, and returns it.
func (b *Broker) expired(op, topic string, err error) error {
	if b.Metrics != nil && errors.Is(err, bus.ErrCursorExpired) {
		b.Metrics.Record(metrics.Event{Kind: metrics.BusCursorExpired, Transport: name, Topic: topic, Op: op})
	}
	return err
}

// brokerError reports a failure of the connection or the announcement
// feed.
func (b *Broker) brokerError(op string) {
	if b.Metrics != nil {
		b.Metrics.Record(metrics.Event{Kind: metrics.BrokerError, Transport: name, Op: op})
	}
}
