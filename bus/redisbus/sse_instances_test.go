package redisbus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/sse"
	"github.com/stretchr/testify/require"
)

// TestSSEResumesAcrossInstances runs two service instances, each an
// sse.Handler on its own redisbus.Broker (separate connections, as two
// processes would have), behind a switchable front proxy. Messages are
// published on both instances. The client's connection is cut twice and
// each time it comes back through the proxy to the other instance, resuming
// with Last-Event-ID: every message arrives once, in order, with no gap.
func TestSSEResumesAcrossInstances(t *testing.T) {
	u := redisURL(t)
	prefix := freshPrefix(t, u)
	brokers := [2]*redisbus.Broker{newBroker(t, u, prefix), newBroker(t, u, prefix)}
	var backends [2]*url.URL
	var streams [2]atomic.Int32 // streams opened on each instance
	for i, b := range brokers {
		defer b.Close()
		h := &sse.Handler{Broker: b, Retry: 20 * time.Millisecond}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streams[i].Add(1)
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		backends[i], _ = url.Parse(srv.URL)
	}
	var current atomic.Int32
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(backends[current.Load()]) },
		FlushInterval: -1,
	})
	defer front.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &sse.Client{URL: front.URL + "/", Retry: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	sub, err := client.Subscribe(ctx, "news", "")
	require.NoError(t, err)
	defer sub.Close()

	const total = 600
	pubErr := make(chan error, 1)
	go func() {
		defer close(pubErr)
		for i := range total {
			b := brokers[i%2] // publish on both instances
			if _, err := b.Publish(ctx, "news", bus.Message{Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var prev bus.Position
	for i := range total {
		if i == total/3 || i == 2*total/3 {
			current.Store(1 - current.Load()) // the next connection goes to the other instance
			front.CloseClientConnections()
		}
		select {
		case m, ok := <-sub.C():
			require.True(t, ok, "subscription ended after %d messages: %v", i, sub.Err())
			require.Equal(t, fmt.Sprint(i), string(m.Data), "message %d", i)
			p, err := m.Position()
			require.NoError(t, err)
			if i > 0 {
				require.True(t, p.Follows(prev), "%s does not follow %s", m.ID, prev.ID())
			}
			prev = p
		case <-ctx.Done():
			t.Fatalf("timed out after %d messages", i)
		}
	}
	require.NoError(t, <-pubErr)
	// The client really moved: A, then B, then A again.
	require.Equal(t, int32(2), streams[0].Load(), "streams on instance A")
	require.Equal(t, int32(1), streams[1].Load(), "streams on instance B")
}
