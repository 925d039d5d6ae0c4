package sse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Only GET opens a stream. Other methods get 405 with Allow, and HEAD the
// headers of a stream and no body: the connection stays usable, whether
// streams hijack it or not.
func TestHandlerMethods(t *testing.T) {
	modes(t, methods)
}

func methods(t *testing.T, disableHijack bool) {
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, DisableHijack: disableHijack}
	mux := http.NewServeMux()
	mux.Handle("/any/{topic}", h)        // every method reaches h
	mux.Handle("GET /events/{topic}", h) // HEAD matches a GET route too
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// Shutdown ends a stream opened by mistake, so a failure cannot hang.
	defer func() { _ = h.Shutdown(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodOptions, http.MethodTrace, "BREW"} {
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+"/any/news", strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err, method)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, method)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), method)
		assert.NotEqual(t, "text/event-stream", resp.Header.Get("Content-Type"), method)
		assert.Contains(t, string(body), "sse: ", method)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second))) // no hang
	r := bufio.NewReader(conn)
	head := func(path string) *http.Response {
		t.Helper()
		_, err := fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
		require.NoError(t, err)
		resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodHead})
		require.NoError(t, err, path)
		return resp
	}
	// Several HEAD requests in a row on one connection: each answer is a
	// head alone, and the handler returns, so the next request is read.
	for _, path := range []string{"/events/news", "/any/news", "/events/news?last_event_id=0"} {
		resp := head(path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"), path)
		assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), path)
		assert.False(t, resp.Close, path)
	}
	// HEAD answers as GET would, without the body.
	for path, code := range map[string]int{"/any/a%20b": 400, "/events/news?last_event_id=x-01": 400} {
		resp := head(path)
		assert.Equal(t, code, resp.StatusCode, path)
	}
	assert.Zero(t, r.Buffered(), "nothing follows the heads")
	assert.Zero(t, h.Streams())
}
