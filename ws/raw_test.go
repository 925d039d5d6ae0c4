package ws

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// pipeDial opens a raw protocol connection with hc, a client from
// testnet.Serve.
func pipeDial(t *testing.T, ctx context.Context, hc *http.Client) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://pipe.test/", &websocket.DialOptions{
		HTTPClient:   hc,
		Subprotocols: []string{Subprotocol},
	})
	require.NoError(t, err)
	return c
}

// rawSend writes one text frame.
func rawSend(t *testing.T, ctx context.Context, c *websocket.Conn, s string) {
	t.Helper()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(s)))
}

// rawPending holds, per connection, the envelopes of a batch frame that
// rawRecv has yet to return.
var rawPending sync.Map // *websocket.Conn → []envelope

// rawRecv returns the next envelope, reading a frame when the last one
// read has none left.
func rawRecv(t *testing.T, ctx context.Context, c *websocket.Conn) envelope {
	t.Helper()
	if v, ok := rawPending.LoadAndDelete(c); ok {
		es := v.([]envelope)
		if len(es) > 1 {
			rawPending.Store(c, es[1:])
		}
		return es[0]
	}
	_, p, err := c.Read(ctx)
	require.NoError(t, err)
	es := splitFrame(t, p)
	if len(es) > 1 {
		rawPending.Store(c, es[1:])
	}
	return es[0]
}

// splitFrame decodes the envelopes of a frame.
func splitFrame(t *testing.T, p []byte) []envelope {
	t.Helper()
	var es []envelope
	err := eachEnvelope(p, func(b []byte) error {
		e, err := decodeEnvelope(b)
		es = append(es, e)
		return err
	})
	require.NoError(t, err, "frame %s", p)
	return es
}

func (h *Handler) connCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active
}
