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
func (b *Broker) publish(ctx context.Context, q Querier, topic string, m bus.Message) (out bus.Message, err error) {
	err = b.report().Publish(topic, len(m.Data), func() error {
		out, err = b.publishQ(ctx, q, topic, m)
		return err
	})
	return out, err
}

// clock returns the start of a round trip: the zero Time, with no clock
// read, when there is no Recorder.
func (b *Broker) clock() time.Time { return b.report().Start() }

// roundTrip reports a query op that began at start and returned err.
func (b *Broker) roundTrip(op string, start time.Time, err error) {
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

// failed reports a failure op of the listener's connection, unless the
// broker is closing.
func (l *listener) failed(op string) {
	if l.ctx.Err() == nil {
		l.b.report().Error(op)
	}
}
