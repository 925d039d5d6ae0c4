package pgbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	rec := &metricstest.Recorder{}
	b := newBroker(t, url, prefix)
	b.HistorySize, b.CheckInterval, b.RetentionInterval, b.Metrics = 2, time.Hour, -1, rec
	defer b.Close()
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

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
	assert.Equal(t, 4, rec.Count(metrics.BusPublished, metrics.Event{Transport: "postgres", Topic: "m", Outcome: metrics.OutcomeOK}))
	assert.Equal(t, 1, rec.Count(metrics.BusPublished, metrics.Event{Transport: "postgres", Outcome: metrics.OutcomeError}))
	var bytes int64
	for _, e := range rec.Events() {
		if e.Kind == metrics.BusPublished {
			bytes += e.Bytes
			assert.Positive(t, e.Duration)
		}
	}
	assert.Equal(t, int64(12), bytes)
	assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "postgres", Op: "publish", Outcome: metrics.OutcomeOK}))
	assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{}))

	// Only messages 3 and 4 are kept: after message 1 has expired.
	_, err = b.Read(ctx, "m", first.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	_, err = b.Subscribe(ctx, "m", first.ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "postgres", Topic: "m", Op: "read"}))
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "postgres", Topic: "m", Op: "subscribe"}))
	assert.Equal(t, 2, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "read", Outcome: metrics.OutcomeOK}))
	assert.Zero(t, rec.Count(metrics.BrokerError, metrics.Event{}))

	// The feed drops: one BrokerError, and the subscriber goes on.
	sub, err := b.Subscribe(ctx, "m", "")
	require.NoError(t, err)
	defer sub.Close()
	assert.Equal(t, 1, rec.Count(metrics.BusSubscribed, metrics.Event{Transport: "postgres", Topic: "m"}))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE query = $1`, `LISTEN "`+prefix+`bus"`).Scan(&n))
	require.Equal(t, 1, n, "the listener's connection")
	m, err := b.Publish(ctx, "m", bus.Message{Data: []byte("after")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, bustest.Receive(t, sub, 1)[0].ID)
	require.Eventually(t, func() bool { // the listener may see the drop after the message came
		return rec.Count(metrics.BrokerError, metrics.Event{Transport: "postgres", Op: "feed"}) == 1
	}, 10*time.Second, time.Millisecond)
	assert.Equal(t, 1, rec.Count(metrics.BrokerError, metrics.Event{}))
}
