package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/auto/autotest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// redisURL returns the Redis to test with, or skips the test when none
// answers (fails when PUSHPULL_REQUIRE_SERVICES=1).
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	b, err := redisbus.New(u)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := b.Top(ctx, "auto-ping"); err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("no Redis at %s: %v", u, err)
		}
		t.Skipf("no Redis at %s: %v", u, err)
	}
	return u
}

// twoInstances starts two auto.Handlers sharing the Redis at u, behind one
// proxy pointing at the first.
func twoInstances(t *testing.T, u string) ([2]*httptest.Server, [2]*redisbus.Broker, *autotest.Proxy) {
	var backends [2]*httptest.Server
	var brokers [2]*redisbus.Broker
	for i := range backends {
		b, err := redisbus.New(u)
		require.NoError(t, err)
		brokers[i] = b
		h := &auto.Handler{Broker: b, Prefix: "/rt", Heartbeat: time.Second}
		mux := http.NewServeMux()
		mux.Handle("/", newApp(h))
		mux.HandleFunc("GET /test.html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(testPage))
		})
		backends[i] = httptest.NewServer(mux)
		t.Cleanup(func() {
			_ = h.Shutdown(context.Background())
			backends[i].Close()
			b.Close()
		})
	}
	proxy := autotest.New(backends[0].URL)
	t.Cleanup(proxy.Close)
	return backends, brokers, proxy
}

// hops moves the proxy between the instances five times, cutting every
// connection, and publishes 200 messages after each move, half on each
// instance; wait checks that the consumer has received 1..n.
func hops(t *testing.T, backends [2]*httptest.Server, brokers [2]*redisbus.Broker, proxy *autotest.Proxy, topic string, wait func(n int)) {
	n := 0
	publish := func(on, count int) {
		for range count {
			n++
			_, err := brokers[on].Publish(context.Background(), topic, busMessage(n))
			require.NoError(t, err)
		}
	}
	for hop := range 5 {
		on := hop % 2
		proxy.SetTarget(backends[on].URL)
		proxy.CutAll()
		publish(1-on, 100) // published on the other instance, delivered by this one
		publish(on, 100)
		wait(n)
	}
}

// Two instances share Redis behind a proxy that moves the page from one to
// the other and back, cutting its connections each time: the page
// receives every message once, in order, whichever instance serves it.
func TestBrowserHopsBetweenInstances(t *testing.T) {
	backends, brokers, proxy := twoInstances(t, redisURL(t))
	topic := fmt.Sprintf("auto-hop-%d", time.Now().UnixNano())
	ctx := browsertest.New(t, 90*time.Second)
	open(t, ctx, proxy.URL()+"/test.html?topic="+topic)
	hops(t, backends, brokers, proxy, topic, func(n int) { received(t, ctx, n) })
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.got.length + " " + window.resets.length + " " + window.sub.transport`))
	require.NoError(t, err)
	require.Equal(t, "1000 0 websocket", got)
}

// The same hops for the Go client.
func TestClientHopsBetweenInstances(t *testing.T) {
	backends, brokers, proxy := twoInstances(t, redisURL(t))
	topic := fmt.Sprintf("auto-hop-go-%d", time.Now().UnixNano())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &auto.Client{URL: proxy.URL() + "/rt", HTTPClient: &http.Client{Transport: tr}, ConnectTimeout: time.Second, ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 700 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()
	got := 0
	hops(t, backends, brokers, proxy, topic, func(n int) {
		for got < n {
			select {
			case m, ok := <-sub.C():
				require.True(t, ok, "ended: %v", sub.Err())
				got++
				require.Equal(t, strconv.Itoa(got), string(m.Data))
			case <-ctx.Done():
				t.Fatalf("after %d messages: %v", got, ctx.Err())
			}
		}
	})
}
