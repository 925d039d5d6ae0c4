package sse_test

import (
	"io"
	"net"
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
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &sse.Handler{
		Broker:       b,
		Retry:        time.Hour, // the clients do not come back after Shutdown
		WriteTimeout: 300 * time.Millisecond,
		Authorize:    metricstest.DenySecret,
		Metrics:      srvRec,
	}
	srv := metricstest.Serve(t, h)
	c := &sse.Client{URL: srv.URL, Metrics: cliRec}

	// Two live streams, 8 messages each.
	live, first := metricstest.Live(t, ctx, b, c.Subscribe, bus.Message{Data: []byte("m")}, 2, 8)

	// A refusal.
	_, err := c.Subscribe(ctx, metricstest.Secret, "")
	require.Error(t, err)

	// A reset: the first message has left the history of 4.
	s, err := c.Subscribe(ctx, metricstest.Topic, first.ID)
	require.NoError(t, err)
	for range s.C() {
		t.Fatal("a message after a reset")
	}
	require.ErrorIs(t, s.Err(), bus.ErrCursorExpired)
	metricstest.Await(t, ctx, func() bool { return h.Streams() <= 2 }) // the server sees the client leave

	// A slow consumer: a connection that never reads, cut by WriteTimeout.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /?topic=slow HTTP/1.1\r\nHost: test\r\n\r\n")
	require.NoError(t, err)
	metricstest.Await(t, ctx, func() bool { return srvRec.Count(metrics.ConnOpened, metrics.Event{Topic: "slow"}) > 0 })
	metricstest.CutSlow(t, ctx, b, "slow", bus.Message{Data: []byte(strings.Repeat("x", 1<<20))}, srvRec)

	// Shutdown ends the live streams; closing the clients' subscriptions
	// (waiting an hour to reconnect) waits for their goroutines.
	require.NoError(t, h.Shutdown(ctx))
	for _, s := range live {
		require.NoError(t, s.Close())
	}

	metricstest.CheckConns(t, srvRec, "sse", map[string]int{
		metrics.ReasonShutdown: 2, // the live streams
		metrics.ReasonClosed:   1, // the reset one
		metrics.ReasonSlow:     1,
	})
	metricstest.CheckDelivered(t, srvRec, "sse", 16)
	metricstest.CheckRefused(t, srvRec, "sse", 1)
	metricstest.CheckReset(t, srvRec, "sse")

	metricstest.CheckConns(t, cliRec, "sse-client", map[string]int{metrics.ReasonClosed: 2, metrics.ReasonExpired: 1})
	metricstest.CheckClientDelivered(t, cliRec, "sse-client", 16)
	metricstest.CheckReset(t, cliRec, "sse-client")
	assert.Len(t, cliRec.Events(), 3+3+16+1)
}
