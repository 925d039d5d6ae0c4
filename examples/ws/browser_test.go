package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connTracker maps client addresses to their server-side connections so
// the test can cut one page's connection.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c.RemoteAddr().String()] = c
		l.mu.Unlock()
	}
	return c, err
}

func TestBrowserChatCatchesUpAfterDrop(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	app, h := newApp(b)

	var gate atomic.Bool // while set, the WebSocket endpoint refuses upgrades
	var mu sync.Mutex
	wsAddrs := map[string][]string{} // page name → remote addresses of its upgrades
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			if gate.Load() {
				http.Error(w, "closed for the test", http.StatusServiceUnavailable)
				return
			}
			mu.Lock()
			wsAddrs[r.URL.Query().Get("name")] = append(wsAddrs[r.URL.Query().Get("name")], r.RemoteAddr)
			mu.Unlock()
		}
		app.ServeHTTP(w, r)
	}))
	tracker := &connTracker{Listener: srv.Listener, conns: map[string]net.Conn{}}
	srv.Listener = tracker
	srv.Start()
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
	}()

	pageA := browsertest.New(t, 60*time.Second)
	pageB, cancelB := chromedp.NewContext(pageA) // a second tab
	defer cancelB()
	require.NoError(t, chromedp.Do(pageA, chromedp.Navigate(srv.URL+"/?name=a")))
	require.NoError(t, chromedp.Do(pageB, chromedp.Navigate(srv.URL+"/?name=b")))
	browsertest.WaitFor(t, pageA, "window.chat && window.chat.ready")
	browsertest.WaitFor(t, pageB, "window.chat && window.chat.ready")
	// Each page lists both as online.
	browsertest.WaitFor(t, pageA, `JSON.stringify(window.chat.online) === '["a","b"]'`)
	browsertest.WaitFor(t, pageB, `JSON.stringify(window.chat.online) === '["a","b"]'`)

	send := func(page context.Context, text string) {
		t.Helper()
		_, err := chromedp.Run(page, chromedp.Evaluate[bool](`window.chat.send(`+jsString(text)+`).then(() => true)`, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
	}
	messages := func(page context.Context) []string {
		t.Helper()
		v, err := chromedp.Run(page, chromedp.Evaluate[[]string](`window.chat.messages`))
		require.NoError(t, err)
		return v
	}

	send(pageA, "hello from a")
	send(pageB, "hello from b")
	browsertest.WaitFor(t, pageA, "window.chat.messages.length === 2")
	browsertest.WaitFor(t, pageB, "window.chat.messages.length === 2")
	assert.Equal(t, []string{"a: hello from a", "b: hello from b"}, messages(pageB))

	// Cut page B's connection and keep it out while page A talks on.
	gate.Store(true)
	mu.Lock()
	addrs := wsAddrs["b"]
	mu.Unlock()
	require.Len(t, addrs, 1)
	tracker.mu.Lock()
	tracker.conns[addrs[0]].Close()
	tracker.mu.Unlock()
	browsertest.WaitFor(t, pageB, `document.getElementById("state").textContent === "closed"`)
	for _, text := range []string{"are you there?", "b dropped", "three"} {
		send(pageA, text)
	}
	browsertest.WaitFor(t, pageA, "window.chat.messages.length === 5")
	assert.Len(t, messages(pageB), 2, "page B is offline")
	// Page B writes while offline: the publish waits for the reconnect.
	_, err := chromedp.Run(pageB, chromedp.Evaluate[bool](`window.chat.send("written offline").then(() => window.offlineAcked = true), true`))
	require.NoError(t, err)

	// Let it back in: it resumes from its cursor, catches up, and sends
	// what was written offline.
	gate.Store(false)
	browsertest.WaitFor(t, pageB, "window.offlineAcked === true && window.chat.opens >= 2")
	send(pageB, "back")
	browsertest.WaitFor(t, pageA, "window.chat.messages.length === 7")
	browsertest.WaitFor(t, pageB, "window.chat.messages.length === 7")
	want := []string{"a: hello from a", "b: hello from b", "a: are you there?", "a: b dropped", "a: three", "b: written offline", "b: back"}
	assert.Equal(t, want, messages(pageA))
	assert.Equal(t, want, messages(pageB), "no gap, no duplicate after the reconnect")
}

// TestBrowserBinaryRoundTrip checks that bytes that are not UTF-8 travel
// byte for byte between the browser client and Go, both ways.
func TestBrowserBinaryRoundTrip(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	app, h := newApp(b)
	srv := httptest.NewServer(app)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	page := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(page, chromedp.Navigate(srv.URL+"/?name=bin")))
	browsertest.WaitFor(t, page, "window.chat && window.chat.ready")

	// Browser → Go.
	id, err := chromedp.Run(page, chromedp.Evaluate[string](
		`window.chat.client.publish("bin", new Uint8Array([255, 0, 254, 65])).then(a => a.id)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	msgs, err := b.Read(context.Background(), "bin", bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, id, msgs[0].ID)
	assert.Equal(t, []byte{255, 0, 254, 65}, msgs[0].Data)

	// Go → browser, binary and text.
	_, err = chromedp.Run(page, chromedp.Evaluate[bool](`(window.bin = [], window.chat.client.subscribe("bin", {
		after: "0", onMessage: (m) => window.bin.push(typeof m.data === "string" ? m.data : Array.from(m.data)) }).then(() => true))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	_, err = b.Publish(context.Background(), "bin", bus.Message{Data: []byte{0, 1, 0x80}})
	require.NoError(t, err)
	_, err = b.Publish(context.Background(), "bin", bus.Message{Data: []byte("héllo")})
	require.NoError(t, err)
	browsertest.WaitFor(t, page, "window.bin.length === 3")
	got, err := chromedp.Run(page, chromedp.Evaluate[string](`JSON.stringify(window.bin)`))
	require.NoError(t, err)
	assert.Equal(t, `[[255,0,254,65],[0,1,128],"héllo"]`, got)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestBrowserReadsBatchFrames: the browser client reads frames that carry
// many envelopes (history replayed and a live burst), every message once,
// in order, and the server did send batches.
func TestBrowserReadsBatchFrames(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	app, h := newApp(b)
	rec := &metricstest.Recorder{}
	h.Metrics = rec
	srv := httptest.NewServer(app)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	ctx := context.Background()
	const n = 400
	for i := range n / 2 {
		_, err := b.Publish(ctx, "burst", bus.Message{Data: []byte(strconv.Itoa(i))})
		require.NoError(t, err)
	}
	page := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(page, chromedp.Navigate(srv.URL+"/?name=batch")))
	browsertest.WaitFor(t, page, "window.chat && window.chat.ready")
	_, err := chromedp.Run(page, chromedp.Evaluate[bool](`(window.got = [], window.chat.client.subscribe("burst", {
		after: "0", onMessage: (m) => window.got.push(m.data) }).then(() => true))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	for i := n / 2; i < n; i++ {
		_, err := b.Publish(ctx, "burst", bus.Message{Data: []byte(strconv.Itoa(i))})
		require.NoError(t, err)
	}
	browsertest.WaitFor(t, page, fmt.Sprintf("window.got.length >= %d", n))
	got, err := chromedp.Run(page, chromedp.Evaluate[[]string](`window.got`))
	require.NoError(t, err)
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	assert.Equal(t, want, got)
	frames := rec.Count(metrics.Delivered, metrics.Event{Topic: "burst"})
	t.Logf("%d messages in %d writes", n, frames)
	assert.Less(t, frames, n, "several messages per frame")
}
