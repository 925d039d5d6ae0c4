package bus_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
)

// A scripted scenario on Memory: messages fanned out to readers that keep
// up, a subscriber that stalls and is cut, cursors that expired, and the
// exact events reported for them.
func TestMemoryMetrics(t *testing.T) {
	const (
		published = 30
		readers   = 3
	)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rec := &metricstest.Recorder{}
		b := &bus.Memory{HistorySize: 100, Buffer: 2, MaxLag: 10, StallTimeout: time.Second, Metrics: rec}
		defer b.Close()

		got := make(chan int, readers)
		var subs []bus.Subscription
		for range readers {
			sub, err := b.Subscribe(ctx, "orders", "")
			require.NoError(t, err)
			subs = append(subs, sub)
			go func() {
				n := 0
				for range sub.C() {
					n++
				}
				got <- n
			}()
		}
		stalled, err := b.Subscribe(ctx, "orders", "")
		require.NoError(t, err)

		data := []byte("0123456789")
		for range published {
			_, err := b.Publish(ctx, "orders", bus.Message{Data: data})
			require.NoError(t, err)
			synctest.Wait() // the readers keep up
		}
		time.Sleep(1500 * time.Millisecond) // the stalled subscriber takes nothing
		_, err = b.Publish(ctx, "orders", bus.Message{Data: data})
		require.NoError(t, err)
		synctest.Wait()
		require.ErrorIs(t, stalled.Err(), bus.ErrSlowConsumer)

		// A cursor from another broker's epoch is expired, for Subscribe
		// and Read alike; a bad publish is counted as an error.
		other := &bus.Memory{}
		m, err := other.Publish(ctx, "orders", bus.Message{})
		require.NoError(t, err)
		require.NoError(t, other.Close())
		_, err = b.Subscribe(ctx, "orders", m.ID)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		_, err = b.Read(ctx, "orders", m.ID, 10)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		_, err = b.Read(ctx, "none", m.ID, 10)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		_, err = b.Publish(ctx, "bad topic", bus.Message{Data: data})
		require.ErrorIs(t, err, bus.ErrInvalidTopic)

		for _, sub := range subs {
			require.NoError(t, sub.Close())
			assert.Equal(t, published+1, <-got)
		}
		require.NoError(t, stalled.Close())

		mem := metrics.Event{Transport: "memory"}
		assert.Equal(t, published+1, rec.Count(metrics.BusPublished, metrics.Event{Transport: "memory", Topic: "orders", Outcome: metrics.OutcomeOK}))
		assert.Equal(t, 1, rec.Count(metrics.BusPublished, metrics.Event{Topic: "bad topic", Outcome: metrics.OutcomeError}))
		var bytes int64
		for _, e := range rec.Events() {
			if e.Kind == metrics.BusPublished {
				bytes += e.Bytes
			}
		}
		assert.Equal(t, int64(published+2)*int64(len(data)), bytes)

		assert.Equal(t, readers+1, rec.Count(metrics.BusSubscribed, metrics.Event{Transport: "memory", Topic: "orders"}))
		assert.Equal(t, readers, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonClosed}))
		assert.Equal(t, 1, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonSlow}))
		assert.Equal(t, readers+1, rec.Count(metrics.BusUnsubscribed, mem))

		// Every reader got every message live; the stalled subscriber
		// got its buffer's worth, then fell behind and never caught up.
		assert.Equal(t, int64(readers*(published+1)+2), rec.Sum(metrics.BusDelivered, metrics.Event{Transport: "memory", Outcome: "live"}))
		assert.Zero(t, rec.Sum(metrics.BusDelivered, metrics.Event{Outcome: "history"}))
		assert.Equal(t, 1, rec.Count(metrics.BusCatchUp, mem))
		assert.Equal(t, int64(1), rec.Sum(metrics.BusCatchUp, metrics.Event{Outcome: "full"}), "one message behind when its buffer was full")

		assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "memory", Topic: "orders", Op: "subscribe"}))
		assert.Equal(t, 2, rec.Count(metrics.BusCursorExpired, metrics.Event{Op: "read"}))
		assert.Zero(t, rec.Count(metrics.BusCursorExpired, metrics.Event{Op: "stream"}))
	})
}

// A subscriber that reads too slowly loses its position: it catches up
// from the history until its position leaves it, then ends with an expired
// cursor.
func TestMemoryMetricsExpiredStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rec := &metricstest.Recorder{}
		b := &bus.Memory{HistorySize: 50, Buffer: 1, MaxLag: 1000, Metrics: rec}
		defer b.Close()
		sub, err := b.Subscribe(ctx, "behind", "")
		require.NoError(t, err)
		for i := range 60 {
			_, err := b.Publish(ctx, "behind", bus.Message{})
			require.NoError(t, err)
			if i == 1 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		n := 0
		for range sub.C() {
			n++
		}
		require.Equal(t, 2, n)
		require.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)

		assert.Equal(t, int64(1), rec.Sum(metrics.BusDelivered, metrics.Event{Outcome: "live"}))
		assert.Equal(t, int64(1), rec.Sum(metrics.BusDelivered, metrics.Event{Outcome: "history"}))
		assert.Equal(t, 1, rec.Count(metrics.BusCatchUp, metrics.Event{Outcome: "full"}))
		assert.Equal(t, 1, rec.Count(metrics.BusCursorExpired, metrics.Event{Transport: "memory", Topic: "behind", Op: "stream"}))
		assert.Equal(t, 1, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonExpired}))
		assert.Equal(t, 60, rec.Count(metrics.BusPublished, metrics.Event{}))
	})
}

// Without a Recorder nothing is reported and nothing changes.
func TestMemoryWithoutMetrics(t *testing.T) {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()
	sub, err := b.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	defer sub.Close()
	m, err := b.Publish(ctx, "t", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, (<-sub.C()).ID)
}
