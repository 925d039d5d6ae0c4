package longpoll_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scripted run of the handler: two held requests answered by a message,
// a third refused over MaxHeld, a forbidden topic, an expired cursor, and a
// held request answered by Shutdown. The handler reports exactly that.
func TestMetricsScript(t *testing.T) {
	t.Parallel()
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	rec := &metricstest.Recorder{}
	h := &longpoll.Handler{Broker: b, MaxHeld: 2, Authorize: metricstest.DenySecret, Metrics: rec}
	srv := metricstest.Serve(t, h)
	get := func(topic, after string) int {
		q := url.Values{"topic": {topic}, "after": {after}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?"+q.Encode(), nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	first, err := b.Publish(ctx, metricstest.Topic, bus.Message{Data: []byte("m0")})
	require.NoError(t, err)

	// Two held requests, answered by one message.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { assert.Equal(t, http.StatusOK, get(metricstest.Topic, first.ID)) })
	}
	metricstest.Await(t, ctx, func() bool { return h.Held() >= 2 })
	assert.Equal(t, http.StatusServiceUnavailable, get(metricstest.Topic, first.ID), "over MaxHeld")
	_, err = b.Publish(ctx, metricstest.Topic, bus.Message{Data: []byte("m1")})
	require.NoError(t, err)
	wg.Wait()

	assert.Equal(t, http.StatusForbidden, get(metricstest.Secret, ""))
	for range 4 {
		_, err := b.Publish(ctx, metricstest.Topic, bus.Message{Data: []byte("n")})
		require.NoError(t, err)
	}
	assert.Equal(t, http.StatusGone, get(metricstest.Topic, first.ID))

	// One held request, answered by Shutdown.
	top, err := b.Top(ctx, metricstest.Topic)
	require.NoError(t, err)
	wg.Go(func() { assert.Equal(t, http.StatusOK, get(metricstest.Topic, top)) })
	metricstest.Await(t, ctx, func() bool { return h.Held() >= 1 })
	require.NoError(t, h.Shutdown(ctx))
	wg.Wait()

	lp := metrics.Event{Transport: "longpoll"}
	metricstest.CheckConns(t, rec, "longpoll", map[string]int{metrics.ReasonDone: 2, metrics.ReasonShutdown: 1})
	assert.Equal(t, 6, rec.Count(metrics.QueueDepth, lp))
	assert.Zero(t, rec.Sum(metrics.QueueDepth, lp))
	assert.Equal(t, 2, rec.Count(metrics.Delivered, lp))
	metricstest.CheckDelivered(t, rec, "longpoll", 2)
	assert.Equal(t, 1, rec.Count(metrics.Refused, metrics.Event{Transport: "longpoll", Topic: metricstest.Topic, Outcome: "capacity"}))
	metricstest.CheckRefused(t, rec, "longpoll", 2)
	metricstest.CheckReset(t, rec, "longpoll")
	assert.Len(t, rec.Events(), 3+3+6+2+2+1)
}

// The client reports each message it receives and the expired cursor it
// is refused; the handler's connections balance out.
func TestMetricsClient(t *testing.T) {
	t.Parallel()
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 8}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &longpoll.Handler{Broker: b, Metrics: srvRec}
	srv := metricstest.Serve(t, h)
	c := &longpoll.Client{URL: srv.URL, Metrics: cliRec}

	live, _ := metricstest.Live(t, ctx, b, c.Subscribe, bus.Message{Data: []byte("m")}, 2, 8)
	for _, s := range live {
		require.NoError(t, s.Close())
	}
	var first string
	for i := range 12 { // the message after the first leaves the history
		m, err := b.Publish(ctx, "old", bus.Message{Data: []byte(fmt.Sprint("n", i))})
		require.NoError(t, err)
		if i == 0 {
			first = m.ID
		}
	}
	_, err := c.Subscribe(ctx, "old", first)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	require.NoError(t, h.Shutdown(ctx))

	cl := metrics.Event{Transport: "longpoll-client"}
	metricstest.CheckClientDelivered(t, cliRec, "longpoll-client", 16)
	assert.Equal(t, 1, cliRec.Count(metrics.Reset, cl))
	assert.Len(t, cliRec.Events(), 16+1)

	lp := metrics.Event{Transport: "longpoll"}
	assert.Equal(t, int64(16), srvRec.Sum(metrics.Delivered, lp))
	assert.Equal(t, 1, srvRec.Count(metrics.Reset, lp))
	assert.Equal(t, srvRec.Count(metrics.ConnOpened, lp), srvRec.Count(metrics.ConnClosed, lp))
	assert.Zero(t, srvRec.Sum(metrics.QueueDepth, lp))
}
