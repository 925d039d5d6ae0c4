package bustest

import (
	"context"
	"testing"
	"testing/synctest"
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

// MemoryMetrics runs a workload on a bus.Memory that reports to rec, in a
// testing/synctest bubble (its one second of stall passes at once), and
// returns what a metrics adapter must show for it, with the label
// broker="memory" and every topic in the class "all": twelve
// publications on two topics, two subscribers that read everything, one
// that reads nothing and is cut as slow after its queue and lag filled,
// and a subscription after an unknown cursor, refused as expired. An
// adapter's test collects its instruments after MemoryMetrics and checks
// them against the result.
func MemoryMetrics(t *testing.T, rec metrics.Recorder) []metricstest.Want {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{Buffer: 2, MaxLag: 2, StallTimeout: time.Second, Metrics: rec}
		defer b.Close()
		var readers []bus.Subscription
		for range 2 {
			sub, err := b.Subscribe(ctx, "orders.1", "")
			require.NoError(t, err)
			readers = append(readers, sub)
			go func() {
				for range sub.C() {
				}
			}()
		}
		stalled, err := b.Subscribe(ctx, "orders.2", "")
		require.NoError(t, err)
		defer stalled.Close()
		for i := range 6 {
			if i == 5 {
				time.Sleep(2 * time.Second) // the stalled subscriber took nothing
			}
			_, err := b.Publish(ctx, "orders.1", bus.Message{Data: []byte("0123456789")})
			require.NoError(t, err)
			_, err = b.Publish(ctx, "orders.2", bus.Message{Data: []byte("01234")})
			require.NoError(t, err)
			synctest.Wait()
		}
		require.ErrorIs(t, stalled.Err(), bus.ErrSlowConsumer)
		_, err = b.Subscribe(ctx, "orders.1", "elsewhere-1")
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		for _, sub := range readers {
			require.NoError(t, sub.Close())
		}
	})
	lbl := func(kv ...string) map[string]string {
		m := map[string]string{"broker": "memory"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []metricstest.Want{
		{Name: "bus_publishes_total", Labels: lbl("topic_class", "all", "outcome", "ok"), Value: 12},
		{Name: "bus_publish_seconds", Labels: lbl(), Count: 12}, // no time passes in the bubble
		{Name: "bus_subscribers", Labels: lbl("topic_class", "all"), Value: 0},
		{Name: "bus_subscriptions_ended_total", Labels: lbl("topic_class", "all", "reason", "closed"), Value: 2},
		{Name: "bus_subscriptions_ended_total", Labels: lbl("topic_class", "all", "reason", "slow"), Value: 1},
		{Name: "bus_deliveries_total", Labels: lbl("topic_class", "all", "path", "live"), Value: 2*6 + 2},
		{Name: "bus_catchups_total", Labels: lbl("topic_class", "all", "reason", "full"), Value: 1},
		{Name: "bus_lag_messages", Labels: lbl(), Value: 1, Count: 1},
		{Name: "bus_cursor_expired_total", Labels: lbl("topic_class", "all", "op", "subscribe"), Value: 1},
	}
}
