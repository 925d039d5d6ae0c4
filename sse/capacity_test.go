package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A full Handler answers 503 and closes the connection, so that a keep-alive
// client's next attempt may reach another instance.
func TestHandlerFullClosesConnection(t *testing.T) {
	for _, d := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableHijack=%v", d), func(t *testing.T) { fullClosesConnection(t, d) })
	}
}

func fullClosesConnection(t *testing.T, disableHijack bool) {
	b := &bus.Memory{}
	defer b.Close()
	h := &sse.Handler{Broker: b, MaxStreams: 1, DisableHijack: disableHijack}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() { assert.NoError(t, h.Shutdown(context.Background())) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=full", nil)
	require.NoError(t, err)
	first, err := srv.Client().Do(open)
	require.NoError(t, err)
	defer first.Body.Close()
	require.Equal(t, http.StatusOK, first.StatusCode)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=full", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.True(t, resp.Close, "Connection: close")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
}
