package ws

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// pipeTransport serves each request with h over net.Pipe, so tests can run
// inside a testing/synctest bubble without loopback sockets.
type pipeTransport struct {
	h  http.Handler
	wg *sync.WaitGroup
}

func (t pipeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	clientEnd, serverEnd := net.Pipe()
	w := &pipeWriter{ResponseRecorder: httptest.NewRecorder(), conn: serverEnd, ready: make(chan struct{})}
	r.RemoteAddr = "pipe"
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.h.ServeHTTP(w, r)
		w.signal()
		if !w.hijacked {
			serverEnd.Close()
		}
	}()
	<-w.ready
	resp := w.Result()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = clientEnd
	} else {
		clientEnd.Close()
	}
	return resp, nil
}

type pipeWriter struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	once     sync.Once
	ready    chan struct{}
	hijacked bool
}

func (w *pipeWriter) signal() { w.once.Do(func() { close(w.ready) }) }

func (w *pipeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	w.signal()
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// pipeDial opens a raw protocol connection to h over a pipe.
func pipeDial(t *testing.T, ctx context.Context, tr pipeTransport) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://pipe.test/", &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
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
