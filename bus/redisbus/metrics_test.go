package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	rec := &metricstest.Recorder{}
	b := newBroker(t, url, freshPrefix(t, url))
	b.HistorySize, b.Metrics = 2, rec
	defer b.Close()
	bustest.CheckMetrics(t, bustest.MetricsCheck{Broker: b, Recorder: rec, Transport: "redis",
		AfterPublish: func() {
			// One script call per publication; the refused one never reached Redis.
			assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "redis", Op: "publish", Outcome: metrics.OutcomeOK}))
		},
		AfterExpired: func() {
			assert.Equal(t, 2, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "read", Outcome: metrics.OutcomeOK}))
		},
	})
	require.NoError(t, b.Ping(context.Background()))
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
