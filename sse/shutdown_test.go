package sse

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// balancer is an http.Transport that sends its first connection to one
// server and every later one to another, as a load balancer that picks an
// instance per connection does when the first instance leaves.
func balancer(first, then *httptest.Server) (*http.Transport, *atomic.Int32) {
	dials := new(atomic.Int32)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr := then.Listener.Addr().String()
		if dials.Add(1) == 1 {
			addr = first.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	return tr, dials
}

// After Handler.Shutdown, with the http.Server still running (as when only
// this handler is taken out of service), no connection stays with the
// instance: keep-alive clients reconnect, to another instance.
func TestHandlerShutdownClosesConnections(t *testing.T) {
	modes(t, shutdownClosesConnections)
}

func shutdownClosesConnections(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	// Instance b stays in service; each subtest shuts its own instance a
	// down.
	hb := &Handler{Broker: b, DisableHijack: disableHijack}
	sb := serve(t, hb)
	defer func() { assert.NoError(t, hb.Shutdown(context.Background())) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()

	t.Run("requests after Shutdown", func(t *testing.T) {
		ha := &Handler{Broker: b, DisableHijack: disableHijack}
		sa := serve(t, ha)
		tr, dials := balancer(sa, sb)
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		do := func(method string) *http.Response {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, method, "http://balancer/events/a", nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			return resp
		}
		resp := do(http.MethodHead)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "kept alive before Shutdown")
		require.NoError(t, ha.Shutdown(ctx))

		// The next request, on the kept-alive connection to the first
		// instance, is refused and closes it.
		resp = do(http.MethodGet)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.True(t, resp.Close, "Connection: close")
		assert.EqualValues(t, 1, dials.Load())
		// The one after goes to the other instance.
		resp = do(http.MethodGet)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		readUntil(t, bufio.NewReader(resp.Body), ":ok\n")
		assert.EqualValues(t, 2, dials.Load())
	})

	t.Run("streams at Shutdown", func(t *testing.T) {
		ha := &Handler{Broker: b, DisableHijack: disableHijack, Retry: time.Millisecond}
		sa := serve(t, ha)
		tr, dials := balancer(sa, sb)
		defer tr.CloseIdleConnections()
		// A Client whose every non-200 status is permanent, as in browsers:
		// coming back to the instance that left would end it.
		c := &Client{URL: "http://balancer/events/{topic}", HTTPClient: &http.Client{Transport: tr}}
		sub, err := c.Subscribe(ctx, "b", "")
		require.NoError(t, err)
		defer sub.Close()
		waitStreams(ha, 1)
		require.Equal(t, 1, ha.Streams())
		require.NoError(t, ha.Shutdown(ctx))
		waitStreams(hb, 1)
		require.Equal(t, 1, hb.Streams(), "moved to the other instance (%v)", sub.Err())
		m := publish(t, b, "b", bus.Message{Data: []byte("after")})[0]
		select {
		case got, ok := <-sub.C():
			require.True(t, ok, "subscription ended: %v", sub.Err())
			assert.Equal(t, m.ID, got.ID)
		case <-ctx.Done():
			t.Fatal("no message")
		}
		assert.EqualValues(t, 2, dials.Load())
	})
}
