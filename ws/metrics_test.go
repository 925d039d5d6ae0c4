package ws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()
	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	srvRec, cliRec := &metricstest.Recorder{}, &metricstest.Recorder{}
	h := &ws.Handler{
		Broker:       b,
		QueueSize:    8,
		WriteTimeout: 300 * time.Millisecond, // ends the slow connection soon after its cut
		Authorize: func(_ *http.Request, _ ws.Action, topic string) error {
			if topic == "secret" {
				return errors.New("no")
			}
			return nil
		},
		Metrics: srvRec,
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// Three connections, two of them subscribed: 8 messages each.
	var clients []*ws.Client
	var live []bus.Subscription
	for i := range 3 {
		// MinBackoff: no reconnect after Shutdown before Close.
		c := &ws.Client{URL: srv.URL, MinBackoff: time.Hour, MaxBackoff: time.Hour, Metrics: cliRec}
		require.NoError(t, c.Connect(ctx))
		defer c.Close()
		clients = append(clients, c)
		if i == 2 {
			break
		}
		s, err := c.Subscribe(ctx, "orders", "")
		require.NoError(t, err)
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
	_, err := clients[0].Subscribe(ctx, "secret", "")
	require.ErrorIs(t, err, ws.ErrForbidden)

	// A reset: the first message has left the history of 4.
	_, err = clients[2].Subscribe(ctx, "orders", first)
	require.ErrorIs(t, err, bus.ErrCursorExpired)

	// A slow consumer: a connection that subscribes and never reads.
	raw, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{ws.Subprotocol}})
	require.NoError(t, err)
	defer raw.CloseNow()
	require.NoError(t, raw.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","topic":"slow"}`)))
	for srvRec.Count(metrics.ConnOpened, metrics.Event{}) < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	big := []byte(strings.Repeat("x", 1<<20))
	for srvRec.Count(metrics.ConnClosed, metrics.Event{Outcome: metrics.ReasonSlow}) == 0 {
		_, err := b.Publish(ctx, "slow", bus.Message{Data: big})
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}

	// Shutdown closes the clients' connections; they wait an hour to
	// reconnect.
	require.NoError(t, h.Shutdown(ctx))
	for cliRec.Count(metrics.ConnClosed, metrics.Event{}) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	for _, c := range clients {
		require.NoError(t, c.Close())
	}

	sv := metrics.Event{Transport: "ws"}
	assert.Equal(t, 4, srvRec.Count(metrics.ConnOpened, sv), "3 clients, the slow one")
	assert.Equal(t, 3, srvRec.Count(metrics.ConnClosed, metrics.Event{Transport: "ws", Outcome: metrics.ReasonShutdown}))
	assert.Equal(t, 1, srvRec.Count(metrics.ConnClosed, metrics.Event{Transport: "ws", Outcome: metrics.ReasonSlow}))
	assert.Equal(t, 4, srvRec.Count(metrics.ConnClosed, sv))
	// Messages written in one batch frame are reported in one event.
	assert.Positive(t, srvRec.Count(metrics.Delivered, metrics.Event{Transport: "ws", Topic: "orders"}))
	assert.Equal(t, int64(16), srvRec.Sum(metrics.Delivered, metrics.Event{Transport: "ws", Topic: "orders"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, metrics.Event{Transport: "ws", Topic: "secret", Outcome: "forbidden"}))
	assert.Equal(t, 1, srvRec.Count(metrics.Refused, sv))
	assert.Equal(t, 1, srvRec.Count(metrics.Reset, metrics.Event{Transport: "ws", Topic: "orders"}))
	for _, e := range srvRec.Events() {
		if e.Kind == metrics.Delivered {
			assert.Positive(t, e.Bytes)
		}
	}

	cl := metrics.Event{Transport: "ws-client"}
	assert.Equal(t, 3, cliRec.Count(metrics.ConnOpened, cl))
	assert.Equal(t, 3, cliRec.Count(metrics.ConnClosed, metrics.Event{Transport: "ws-client", Outcome: metrics.ReasonShutdown}))
	assert.Equal(t, int64(16), cliRec.Sum(metrics.Delivered, cl))
	assert.Equal(t, 16, cliRec.Count(metrics.Delivered, cl))
	assert.Equal(t, 1, cliRec.Count(metrics.Reset, metrics.Event{Transport: "ws-client", Topic: "orders"}))
	assert.Len(t, cliRec.Events(), 3+3+16+1)
}
