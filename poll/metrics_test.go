package poll_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scripted run of the handler and the client: two subscriptions get 8
// messages each, a forbidden topic is refused and an expired cursor gets
// 410. Polls open no connection; both sides report exactly that.
func TestMetricsScript(t *testing.T) {
	t.Parallel()
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 8}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &poll.Handler{Broker: b, Interval: time.Millisecond, Authorize: metricstest.DenySecret, Metrics: srvRec}
	srv := metricstest.Serve(t, h)
	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond, Metrics: cliRec}

	live, first := metricstest.Live(t, ctx, b, c.Subscribe, bus.Message{Data: []byte("m")}, 2, 8)
	for _, s := range live {
		require.NoError(t, s.Close())
	}

	_, err := c.Subscribe(ctx, metricstest.Secret, "")
	require.Error(t, err)

	for range 8 { // the first message leaves the history
		_, err := b.Publish(ctx, metricstest.Topic, bus.Message{Data: []byte("n")})
		require.NoError(t, err)
	}
	_, err = c.Subscribe(ctx, metricstest.Topic, first.ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)

	metricstest.CheckConns(t, srvRec, "poll", nil) // a poll opens no connection
	metricstest.CheckDelivered(t, srvRec, "poll", 16)
	metricstest.CheckRefused(t, srvRec, "poll", 1)
	metricstest.CheckReset(t, srvRec, "poll")

	metricstest.CheckClientDelivered(t, cliRec, "poll-client", 16)
	metricstest.CheckReset(t, cliRec, "poll-client")
	assert.Len(t, cliRec.Events(), 16+1)
}

// With no Recorder, reporting allocates nothing: an answer costs what it
// cost before metrics existed.
func TestMetricsNilAllocs(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	ctx := context.Background()
	_, err := b.Publish(ctx, "t", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	serve := func(h *poll.Handler) float64 {
		return testing.AllocsPerRun(200, func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?topic=t&after="+bus.Oldest, nil))
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"x"`) {
				t.Fatalf("answer %d %s", w.Code, w.Body)
			}
		})
	}
	with := serve(&poll.Handler{Broker: b, Metrics: metrics.RecorderFunc(func(metrics.Event) {})})
	without := serve(&poll.Handler{Broker: b})
	assert.Equal(t, without, with, "a recorder that keeps nothing costs no allocation either")
}
