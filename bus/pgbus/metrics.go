package pgbus

import (
	"context"
	"errors"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// name is the broker's name in the events it reports.
const name = "postgres"

// publish publishes m with q, reporting it to Metrics.
func (b *Broker) publish(ctx context.Context, q Querier, topic string, m bus.Message) (bus.Message, error) {
	if b.Metrics == nil {
		return b.publishQ(ctx, q, topic, m)
	}
	start, size := time.Now(), len(m.Data)
	m, err := b.publishQ(ctx, q, topic, m)
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

// roundTrip reports a query op that began at start and returned err.
func (b *Broker) roundTrip(op string, start time.Time, err error) {
	if b.Metrics == nil {
		return
	}
	outcome := metrics.OutcomeOK
	if err != nil {
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

// failed reports a failure op of the listener's connection, unless the
// broker is closing.
func (l *listener) failed(op string) {
	if l.b.Metrics != nil && l.ctx.Err() == nil {
		l.b.Metrics.Record(metrics.Event{Kind: metrics.BrokerError, Transport: name, Op: op})
	}
}
