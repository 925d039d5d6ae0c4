package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/sse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scripted run of the handler and the client: two live streams get 8
// messages each, a forbidden request is refused, an expired cursor gets a
// reset, a consumer that stops reading is cut, then Shutdown ends the live
// streams. Both sides report exactly that.
func TestMetricsScript(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()
	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &sse.Handler{
		Broker:       b,
		Retry:        time.Hour, // the clients do not come back after Shutdown
		WriteTimeout: 300 * time.Millisecond,
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
	c := &sse.Client{URL: srv.URL, Metrics: cliRec}

	// Two live streams, 8 messages each.
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
	}

	// A refusal.
	_, err := c.Subscribe(ctx, "secret", "")
	require.Error(t, err)

	// A reset: the first message has left the history of 4.
	s, err := c.Subscribe(ctx, "orders", first)
	require.NoError(t, err)
	for range s.C() {
		t.Fatal("a message after a reset")
	}
	require.ErrorIs(t, s.Err(), bus.ErrCursorExpired)
	for h.Streams() > 2 { // the server sees the client leave
		time.Sleep(5 * time.Millisecond)
	}

	// A slow consumer: a connection that never reads, cut by WriteTimeout.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /?topic=slow HTTP/1.1\r\nHost: test\r\n\r\n")
	require.NoError(t, err)
	for srvRec.Count(metrics.ConnOpened, metrics.Event{Topic: "slow"}) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	big := []byte(strings.Repeat("x", 1<<20))
	for srvRec.Count(metrics.ConnClosed, metrics.Event{Outcome: metrics.ReasonSlow}) == 0 {
		_, err := b.Publish(ctx, "slow", bus.Message{Data: big})
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}

	// Shutdown ends the live streams; closing the clients' subscriptions
	// (waiting an hour to reconnect) waits for their goroutines.
	require.NoError(t, h.Shutdown(ctx))
	for _, s := range live {
		require.NoError(t, s.Close())
	}

	sv := metrics.Event{Transport: "sse"}
	assert.Equal(t, 4, srvRec.Count(metrics.ConnOpened, sv), "2 live, the reset one, the slow one")
	assert.Equal(t, 2, srvRec.Count(metrics.ConnClosed, metrics.Event{Transport: "sse", Outcome: metrics.ReasonShutdown}))
	assert.Equal(t, 1, srvRec.Count(metrics.ConnClosed, metrics.Event{Transport: "sse", Outcome: metrics.ReasonClosed}))
	assert.Equal(t, 1, srvRec.Count(metrics.ConnClosed, metrics.Event{Transport: "sse", Outcome: metrics.ReasonSlow}))
	assert.Equal(t, 4, srvRec.Count(metrics.ConnClosed, sv))
	assert.Equal(t, int64(16), srvRec.Sum(metrics.Delivered, metrics.Event{Transport: "sse", Topic: "orders"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, metrics.Event{Transport: "sse", Topic: "secret", Outcome: "forbidden"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, sv))
	assert.Equal(t, 1, srvRec.Count(metrics.Reset, metrics.Event{Transport: "sse", Topic: "orders"}))
	for _, e := range srvRec.Events() {
		if e.Kind == metrics.Refused {
			assert.Equal(t, http.StatusForbidden, e.Status)
		}
		if e.Kind == metrics.Delivered {
			assert.Positive(t, e.Bytes)
		}
		if e.Kind == metrics.ConnClosed {
			assert.Positive(t, e.Duration)
		}
	}

	cl := metrics.Event{Transport: "sse-client"}
	assert.Equal(t, 3, cliRec.Count(metrics.ConnOpened, cl))
	assert.Equal(t, 2, cliRec.Count(metrics.ConnClosed, metrics.Event{Transport: "sse-client", Outcome: metrics.ReasonClosed}))
	assert.Equal(t, 1, cliRec.Count(metrics.ConnClosed, metrics.Event{Transport: "sse-client", Outcome: metrics.ReasonExpired}))
	assert.Equal(t, 3, cliRec.Count(metrics.ConnClosed, cl))
	assert.Equal(t, 16, cliRec.Count(metrics.Delivered, cl))
	assert.Equal(t, int64(16), cliRec.Sum(metrics.Delivered, cl))
	assert.Equal(t, 1, cliRec.Count(metrics.Reset, cl))
	assert.Len(t, cliRec.Events(), 3+3+16+1)
}
