package ws_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Subscribing to and unsubscribing from topics that do not exist leaves no
// topic behind in the broker.
func TestSubscribingUnknownTopicsLeavesNoState(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := t.Context()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{ws.Subprotocol}})
	require.NoError(t, err)
	defer c.CloseNow()
	ask := func(frame string) map[string]any {
		t.Helper()
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(frame)))
		_, p, err := c.Read(ctx)
		require.NoError(t, err)
		var reply map[string]any
		require.NoError(t, json.Unmarshal(p, &reply))
		return reply
	}
	for i := range 5000 {
		topic := fmt.Sprintf("ghost.%d", i)
		after := ""
		if i%2 == 1 {
			after = bus.Origin
		}
		reply := ask(fmt.Sprintf(`{"op":"subscribe","topic":%q,"after":%q,"ref":"s"}`, topic, after))
		require.Equal(t, "ack", reply["op"], "subscribe %s: %v", topic, reply)
		assert.Equal(t, bus.Origin, reply["id"], "the cursor of a topic with no message")
		reply = ask(fmt.Sprintf(`{"op":"unsubscribe","topic":%q,"ref":"u"}`, topic))
		require.Equal(t, "ack", reply["op"], "unsubscribe %s: %v", topic, reply)
	}
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	require.NoError(t, h.Shutdown(ctx))
	assert.Equal(t, 0, b.Topics())
}
