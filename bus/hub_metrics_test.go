package bus

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
)

// The Hub reports each subscription, each hand-over by path, and each
// switch to the history with its reason and lag.
func TestHubMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &metricstest.Recorder{}
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		hb.Metrics = rec
		s := subscribe(t, hb, h, h.top())
		msgs := h.add(4)
		feed(hb, msgs[0])
		assert.Equal(t, []string{"m1"}, take(t, s, 1))
		feed(hb, msgs[3]) // 2 and 3 were lost on the way
		assert.Equal(t, []string{"m2", "m3", "m4"}, take(t, s, 3))
		synctest.Wait()
		more := h.add(2)
		feed(hb, more[0])
		assert.Equal(t, []string{"m5"}, take(t, s, 1))
		tp, err := hb.Acquire("t", nil)
		require.NoError(t, err)
		hb.Resync(tp, h.top()) // m6 was never announced
		hb.Release(tp)
		assert.Equal(t, []string{"m6"}, take(t, s, 1))
		synctest.Wait()

		// A late subscriber starts behind the top: it catches up at once.
		late := subscribe(t, hb, h, Position{Epoch: "e1", Offset: 2})
		assert.Equal(t, []string{"m3", "m4", "m5", "m6"}, take(t, late, 4))
		synctest.Wait()
		require.NoError(t, late.Close())

		ctx, cancel := context.WithCancel(context.Background())
		tp, err = hb.Acquire("t", nil)
		require.NoError(t, err)
		gone, err := hb.Join(ctx, tp, h.top(), h.top())
		require.NoError(t, err)
		cancel()
		synctest.Wait()
		require.ErrorIs(t, gone.Err(), context.Canceled)
		hb.Close()

		fromHub := metrics.Event{Transport: "bus"}
		assert.Equal(t, 3, rec.Count(metrics.BusSubscribed, metrics.Event{Transport: "bus", Topic: "t"}))
		assert.Equal(t, 3, rec.Count(metrics.BusUnsubscribed, fromHub))
		assert.Equal(t, 1, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonClosed}))
		assert.Equal(t, 1, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonCanceled}))
		assert.Equal(t, 1, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonShutdown}))
		assert.Equal(t, int64(2), rec.Sum(metrics.BusDelivered, metrics.Event{Outcome: "live"}))
		assert.Equal(t, int64(3+1+4), rec.Sum(metrics.BusDelivered, metrics.Event{Outcome: "history"}))
		assert.Equal(t, 3, rec.Count(metrics.BusCatchUp, fromHub))
		assert.Equal(t, int64(3), rec.Sum(metrics.BusCatchUp, metrics.Event{Outcome: "gap"}), "m1 of 4")
		assert.Equal(t, int64(1), rec.Sum(metrics.BusCatchUp, metrics.Event{Outcome: "resync"}), "m5 of 6")
		assert.Equal(t, int64(4), rec.Sum(metrics.BusCatchUp, metrics.Event{Outcome: "join"}), "m2 of 6")
		assert.Zero(t, rec.Count(metrics.BusCursorExpired, metrics.Event{}))
	})
}

func TestEndReason(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil:                                 metrics.ReasonClosed,
		ErrSlowConsumer:                     metrics.ReasonSlow,
		&CursorError{Err: ErrCursorExpired}: metrics.ReasonExpired,
		ErrClosed:                           metrics.ReasonShutdown,
		context.Canceled:                    metrics.ReasonCanceled,
		context.DeadlineExceeded:            metrics.ReasonCanceled,
		ErrInvalidTopic:                     metrics.ReasonError,
	} {
		assert.Equal(t, want, endReason(err), "%v", err)
	}
}
