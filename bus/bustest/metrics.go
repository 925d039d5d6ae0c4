package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MetricsCheck configures CheckMetrics.
type MetricsCheck struct {
	// Broker keeps at most two messages per topic and reports to Recorder.
	Broker   bus.Broker
	Recorder *metricstest.Recorder
	// Transport is the name the broker reports events with ("redis").
	Transport string
	// AfterPublish and AfterExpired, when set, check the broker's own
	// events (round trips) after the publications and after the expired
	// reads.
	AfterPublish, AfterExpired func()
}

// CheckMetrics checks the events every broker reports: four publications
// on topic "m" (BusPublished, with the payload bytes and, unless the
// broker reports none, a duration) and one refused (an error outcome), a
// read and a subscription after an expired cursor (BusCursorExpired with
// Op "read" and "subscribe"), and a subscription of the broker's Hub
// (BusSubscribed with the broker's name). It returns the first message.
func CheckMetrics(t *testing.T, c MetricsCheck) bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, rec, tr := c.Broker, c.Recorder, c.Transport
	var first bus.Message
	for i := range 4 {
		m, err := b.Publish(ctx, "m", bus.Message{Data: []byte("abc")})
		require.NoError(t, err)
		if i == 0 {
			first = m
		}
	}
	_, err := b.Publish(ctx, "bad topic\x00", bus.Message{})
	require.Error(t, err)
	assert.Equal(t, 4, rec.Count(metrics.BusPublished, metrics.Event{Transport: tr, Topic: "m", Outcome: metrics.OutcomeOK}))
	assert.Equal(t, 1, rec.Count(metrics.BusPublished, metrics.Event{Transport: tr, Outcome: metrics.OutcomeError}))
	var bytes int64
	for _, e := range rec.Events() {
		if e.Kind == metrics.BusPublished && e.Outcome == metrics.OutcomeOK {
			bytes += e.Bytes
			assert.Positive(t, e.Duration, "a publication's duration")
		}
	}
	assert.Equal(t, int64(12), bytes)
	if c.AfterPublish != nil {
		c.AfterPublish()
	}

	// Only messages 3 and 4 are kept: after message 1 has expired.
	_, err = b.Read(ctx, "m", first.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	_, err = b.Subscribe(ctx, "m", first.ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: tr, Topic: "m", Op: "read"}))
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: tr, Topic: "m", Op: "subscribe"}))
	if c.AfterExpired != nil {
		c.AfterExpired()
	}

	// The Hub reports with the broker's name.
	sub, err := b.Subscribe(ctx, "m", "")
	require.NoError(t, err)
	require.NoError(t, sub.Close())
	assert.Equal(t, 1, rec.Count(metrics.BusSubscribed, metrics.Event{Transport: tr, Topic: "m"}))
	return first
}
