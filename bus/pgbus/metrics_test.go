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
	bustest.CheckMetrics(t, bustest.MetricsCheck{Broker: b, Recorder: rec, Transport: "postgres",
		AfterPublish: func() {
			assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "postgres", Op: "publish", Outcome: metrics.OutcomeOK}))
			assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{}))
		},
		AfterExpired: func() {
			assert.Equal(t, 2, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "read", Outcome: metrics.OutcomeOK}))
			assert.Zero(t, rec.Count(metrics.BrokerError, metrics.Event{}))
		},
	})

	// The feed drops: one BrokerError, and the subscriber goes on.
	sub, err := b.Subscribe(ctx, "m", "")
	require.NoError(t, err)
	defer sub.Close()
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
