package ws_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scripted run of the handler and the client: two connections get 8
// messages each, a forbidden subscribe is refused, an expired cursor gets a
// reset, a consumer that stops reading is cut, then Shutdown ends the other
// connections. Both sides report exactly that.
func TestMetricsScript(t *testing.T) {
	t.Parallel()
	ctx := metricstest.Context(t)
	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &ws.Handler{
		Broker:       b,
		QueueSize:    8,
		WriteTimeout: 300 * time.Millisecond, // ends the slow connection soon after its cut
		Authorize: func(r *http.Request, _ ws.Action, topic string) error {
			return metricstest.DenySecret(r, topic)
		},
		Metrics: srvRec,
	}
	srv := metricstest.Serve(t, h)

	// Three connections, the first two subscribed: 8 messages each.
	var clients []*ws.Client
	for range 3 {
		// MinBackoff: no reconnect after Shutdown before Close.
		c := &ws.Client{URL: srv.URL, MinBackoff: time.Hour, MaxBackoff: time.Hour, Metrics: cliRec}
		require.NoError(t, c.Connect(ctx))
		defer c.Close()
		clients = append(clients, c)
	}
	subscribed := 0
	subscribe := func(ctx context.Context, topic, after string) (bus.Subscription, error) {
		subscribed++
		return clients[subscribed-1].Subscribe(ctx, topic, after)
	}
	_, first := metricstest.Live(t, ctx, b, subscribe, bus.Message{Data: []byte("m")}, 2, 8)

	// A refusal.
	_, err := clients[0].Subscribe(ctx, metricstest.Secret, "")
	require.ErrorIs(t, err, ws.ErrForbidden)

	// A reset: the first message has left the history of 4.
	_, err = clients[2].Subscribe(ctx, metricstest.Topic, first.ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)

	// A slow consumer: a connection that subscribes and never reads.
	raw, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{ws.Subprotocol}})
	require.NoError(t, err)
	defer raw.CloseNow()
	require.NoError(t, raw.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","topic":"slow"}`)))
	metricstest.Await(t, ctx, func() bool { return srvRec.Count(metrics.ConnOpened, metrics.Event{}) >= 4 })
	metricstest.CutSlow(t, ctx, b, "slow", bus.Message{Data: []byte(strings.Repeat("x", 1<<20))}, srvRec)

	// Shutdown closes the clients' connections; they wait an hour to
	// reconnect.
	require.NoError(t, h.Shutdown(ctx))
	metricstest.Await(t, ctx, func() bool { return cliRec.Count(metrics.ConnClosed, metrics.Event{}) >= 3 })
	for _, c := range clients {
		require.NoError(t, c.Close())
	}

	metricstest.CheckConns(t, srvRec, "ws", map[string]int{metrics.ReasonShutdown: 3, metrics.ReasonSlow: 1}) // 3 clients, the slow one
	// Messages written in one batch frame are reported in one event.
	assert.Positive(t, srvRec.Count(metrics.Delivered, metrics.Event{Transport: "ws", Topic: "orders"}))
	metricstest.CheckDelivered(t, srvRec, "ws", 16)
	metricstest.CheckRefused(t, srvRec, "ws", 1)
	metricstest.CheckReset(t, srvRec, "ws")

	metricstest.CheckConns(t, cliRec, "ws-client", map[string]int{metrics.ReasonShutdown: 3})
	metricstest.CheckClientDelivered(t, cliRec, "ws-client", 16)
	metricstest.CheckReset(t, cliRec, "ws-client")
	assert.Len(t, cliRec.Events(), 3+3+16+1)
}
