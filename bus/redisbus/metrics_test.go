package redisbus_test

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

func TestMetrics(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ctx := context.Background()
	rec := &metricstest.Recorder{}
	b := newBroker(t, url, freshPrefix(t, url))
	b.HistorySize, b.Metrics = 2, rec
	defer b.Close()

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
	assert.Equal(t, 4, rec.Count(metrics.BusPublished, metrics.Event{Transport: "redis", Topic: "m", Outcome: metrics.OutcomeOK}))
	assert.Equal(t, 1, rec.Count(metrics.BusPublished, metrics.Event{Transport: "redis", Outcome: metrics.OutcomeError}))
	var bytes int64
	for _, e := range rec.Events() {
		if e.Kind == metrics.BusPublished {
			bytes += e.Bytes
		}
	}
	assert.Equal(t, int64(12), bytes)
	// One script call per publication; the refused one never reached Redis.
	assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "redis", Op: "publish", Outcome: metrics.OutcomeOK}))

	// Only messages 3 and 4 are kept: after message 1 has expired.
	_, err = b.Read(ctx, "m", first.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	_, err = b.Subscribe(ctx, "m", first.ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "redis", Topic: "m", Op: "read"}))
	assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "redis", Topic: "m", Op: "subscribe"}))
	assert.Equal(t, 2, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "read", Outcome: metrics.OutcomeOK}))

	// The Hub reports with the broker's name.
	sub, err := b.Subscribe(ctx, "m", "")
	require.NoError(t, err)
	require.NoError(t, sub.Close())
	assert.Equal(t, 1, rec.Count(metrics.BusSubscribed, metrics.Event{Transport: "redis", Topic: "m"}))
	require.NoError(t, b.Ping(ctx))
	assert.Equal(t, 1, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "ping", Outcome: metrics.OutcomeOK}))
	assert.Zero(t, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Outcome: metrics.OutcomeError}))
	assert.Zero(t, rec.Count(metrics.BrokerError, metrics.Event{}))
}

// TestMetricsReconnect kills the broker's PUB/SUB connection: the feed's
// failure is reported once per reconnection.
func TestMetricsReconnect(t *testing.T) {
	r := startPrivateRedis(t)
	rec := &metricstest.Recorder{}
	b := newBroker(t, r.url(), "m:")
	b.CheckInterval, b.Metrics = time.Hour, rec
	defer b.Close()
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "r", "")
	require.NoError(t, err)
	defer sub.Close()
	r.killClients()
	require.Eventually(t, func() bool {
		return rec.Count(metrics.BrokerError, metrics.Event{Transport: "redis", Op: "reconnect"}) >= 1
	},
		20*time.Second, 10*time.Millisecond, "the lost feed is reported")
}
