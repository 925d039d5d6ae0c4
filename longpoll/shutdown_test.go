package longpoll_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
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
// this handler is taken out of service), every answer closes its
// connection, so keep-alive clients reconnect, to another instance.
func TestHandlerShutdownClosesConnections(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	// Instance b stays in service; each subtest shuts its own instance a
	// down.
	hb := &longpoll.Handler{Broker: b}
	sb := httptest.NewServer(hb)
	defer sb.Close()
	defer func() { assert.NoError(t, hb.Shutdown(context.Background())) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()

	t.Run("requests after Shutdown", func(t *testing.T) {
		ha := &longpoll.Handler{Broker: b}
		sa := httptest.NewServer(ha)
		defer sa.Close()
		tr, dials := balancer(sa, sb)
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		get := func() *http.Response {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://balancer/?topic=a&timeout=0", nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			_, err = io.Copy(io.Discard, resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			return resp
		}
		resp := get()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "kept alive before Shutdown")
		require.NoError(t, ha.Shutdown(ctx))

		// The next request, on the kept-alive connection to the first
		// instance, is refused and closes it.
		resp = get()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.True(t, resp.Close, "Connection: close")
		assert.EqualValues(t, 1, dials.Load())
		// The one after goes to the other instance.
		resp = get()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.EqualValues(t, 2, dials.Load())
	})

	t.Run("held requests at Shutdown", func(t *testing.T) {
		ha := &longpoll.Handler{Broker: b}
		sa := httptest.NewServer(ha)
		defer sa.Close()
		tr, dials := balancer(sa, sb)
		defer tr.CloseIdleConnections()
		c := &longpoll.Client{URL: "http://balancer/", HTTPClient: &http.Client{Transport: tr}}
		sub, err := c.Subscribe(ctx, "b", "")
		require.NoError(t, err)
		defer sub.Close()
		waitUntil(t, func() bool { return ha.Held() == 1 })
		require.NoError(t, ha.Shutdown(ctx))
		waitUntil(t, func() bool { return hb.Held() == 1 })
		m := pollwiretest.Publish(t, b, "b", "after")[0]
		got := pollwiretest.Receive(t, sub, 1, 30*time.Second)
		assert.Equal(t, m.ID, got[0].ID)
		assert.EqualValues(t, 2, dials.Load())
	})
}
