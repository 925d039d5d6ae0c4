package autotest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/auto/autotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo answers "hello from <name>" to GETs and greets WebSocket clients.
func echo(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			_, _ = io.WriteString(w, "hello from "+name)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte("hi"))
		_, _, _ = c.Read(r.Context())
	}))
}

func body(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

func TestWebSocketFaults(t *testing.T) {
	srv := echo("a")
	defer srv.Close()
	p := autotest.New(srv.URL)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, p.URL(), nil)
	require.NoError(t, err)
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(msg))
	c.CloseNow()

	p.SetFaults(autotest.RefuseWebSocket)
	_, res, err := websocket.Dial(ctx, p.URL(), nil)
	require.Error(t, err)
	assert.NotEqual(t, http.StatusSwitchingProtocols, res.StatusCode)

	// Muted: the handshake passes, the greeting does not; cutting the
	// connection ends the read.
	p.SetFaults(autotest.MuteWebSocket)
	c, _, err = websocket.Dial(ctx, p.URL(), nil)
	require.NoError(t, err)
	defer c.CloseNow()
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		read <- err
	}()
	assert.GreaterOrEqual(t, p.CutAll(), 1)
	require.Error(t, <-read)
	assert.Equal(t, int64(2), p.Upgrades())
}

func TestSetTarget(t *testing.T) {
	a, b := echo("a"), echo("b")
	defer a.Close()
	defer b.Close()
	p := autotest.New(a.URL)
	defer p.Close()
	assert.Equal(t, "hello from a", body(t, p.URL()))
	p.SetTarget(b.URL)
	p.CutAll()
	assert.Equal(t, "hello from b", body(t, p.URL()))
}
