package ws

import (
	"context"
	"net/http"
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

// rawRecv reads one frame and decodes it.
func rawRecv(t *testing.T, ctx context.Context, c *websocket.Conn) envelope {
	t.Helper()
	_, p, err := c.Read(ctx)
	require.NoError(t, err)
	e, err := decodeEnvelope(p)
	require.NoError(t, err, "frame %s", p)
	return e
}

func (h *Handler) connCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active
}
