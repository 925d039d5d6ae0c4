package poll_test

import (
	"context"
	"errors"
	"fmt"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()
	b := &bus.Memory{HistorySize: 8}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &poll.Handler{
		Broker:   b,
		Interval: time.Millisecond,
		Authorize: func(_ *http.Request, topic string) error {
			if topic == "secret" {
				return errors.New("no")
			}
			return nil
		},
		Metrics: srvRec,
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond, Metrics: cliRec}

	var live []bus.Subscription
	for range 2 {
		s, err := c.Subscribe(ctx, "orders", "")
		require.NoError(t, err)
		defer s.Close()
		live = append(live, s)
	}
	var first string
	for i := range 8 {
		m, err := b.Publish(ctx, "orders", bus.Message{Data: []byte(fmt.Sprint("m", i))})
		require.NoError(t, err)
		if i == 0 {
			first = m.ID
		}
	}
	for _, s := range live {
		for range 8 {
			<-s.C()
		}
		require.NoError(t, s.Close())
	}

	_, err := c.Subscribe(ctx, "secret", "")
	require.Error(t, err)

	for i := range 8 { // the first message leaves the history
		_, err := b.Publish(ctx, "orders", bus.Message{Data: []byte(fmt.Sprint("n", i))})
		require.NoError(t, err)
	}
	_, err = c.Subscribe(ctx, "orders", first)
	require.ErrorIs(t, err, bus.ErrCursorExpired)

	sv := metrics.Event{Transport: "poll"}
	assert.Zero(t, srvRec.Count(metrics.ConnOpened, sv), "a poll opens no connection")
	assert.Equal(t, int64(16), srvRec.Sum(metrics.Delivered, metrics.Event{Transport: "poll", Topic: "orders"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, metrics.Event{Transport: "poll", Topic: "secret", Outcome: "forbidden"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, sv))
	assert.Equal(t, 1, srvRec.Count(metrics.Reset, metrics.Event{Transport: "poll", Topic: "orders"}))

	cl := metrics.Event{Transport: "poll-client"}
	assert.Equal(t, 16, cliRec.Count(metrics.Delivered, cl))
	assert.Equal(t, int64(16), cliRec.Sum(metrics.Delivered, cl))
	assert.Equal(t, 1, cliRec.Count(metrics.Reset, metrics.Event{Transport: "poll-client", Topic: "orders"}))
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
