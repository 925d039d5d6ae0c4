package ws_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Handler that was shut down refuses upgrades with 503, says why, and
// closes the connection so the client's next attempt may reach another
// instance.
func TestHandlerRefusesAfterShutdown(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	require.NoError(t, h.Shutdown(context.Background()))
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), "ws: shutting down")
	assert.True(t, resp.Close, "Connection: close")
}
