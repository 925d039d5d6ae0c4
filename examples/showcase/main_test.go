package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/sse"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs the app on a loopback port and stops it when the test ends.
func start(t *testing.T) (*app, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a, _ := serve(t, l)
	return a, "http://" + l.Addr().String()
}

// serve runs a new app, with a bus of its own, on l until stop is called or
// the test ends.
func serve(t *testing.T, l net.Listener) (a *app, stop func()) {
	t.Helper()
	a, err := newApp("http://"+l.Addr().String(), &bus.Memory{})
	require.NoError(t, err)
	srv := a.server()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = srv.Serve(listen(l))
	}()
	go func() {
		defer wg.Done()
		_ = a.dispatcher.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
			defer done()
			a.shutdown(sctx)
			_ = srv.Shutdown(sctx)
			wg.Wait()
			_ = a.bus.Close()
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func publish(t *testing.T, base, text string) {
	t.Helper()
	res, err := http.PostForm(base+"/publish", url.Values{"text": {text}})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
}

// TestShowcaseGoClients reads the demo's endpoints with the library's own
// clients: the webhook path ends on the inbox topic, read over SSE.
func TestShowcaseGoClients(t *testing.T) {
	_, base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	news, err := sse.NewClient(base+"/sse/news").Subscribe(ctx, "news", "")
	require.NoError(t, err)
	defer news.Close()
	inbox, err := sse.NewClient(base+"/sse/inbox").Subscribe(ctx, "inbox", bus.Oldest)
	require.NoError(t, err)
	defer inbox.Close()
	for i := range 3 {
		publish(t, base, fmt.Sprintf("hello %d", i))
	}
	for i := range 3 {
		select {
		case m := <-news.C():
			require.Equal(t, fmt.Sprintf("hello %d", i), string(m.Data))
		case <-ctx.Done():
			t.Fatal("news did not arrive over SSE")
		}
	}
	for i := range 3 {
		select {
		case m := <-inbox.C():
			require.Equal(t, "news.posted", m.Type)
			require.Contains(t, string(m.Data), fmt.Sprintf("hello %d", i), "the receiver publishes the verified payload")
		case <-ctx.Done():
			t.Fatal("the webhook did not reach the inbox")
		}
	}
	res, err := http.PostForm(base+"/publish", url.Values{"text": {""}})
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, err = http.Get(base + "/healthz") // the bus and the webhook dispatcher are ready
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// TestShowcaseBrowserContinuesAfterRestart restarts the server under an
// open page, at the same address with a fresh bus (so a new epoch): the
// cursors the panels hold can no longer be served. The WebSocket and SSE
// panels report the reset and go on receiving what is published after it.
func TestShowcaseBrowserContinuesAfterRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	base := "http://" + addr
	_, stop := serve(t, l)
	ctx := browsertest.New(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/")))
	browsertest.WaitFor(t, ctx, "window.ready === true")
	browsertest.WaitFor(t, ctx, `document.querySelector("#sse .state").textContent === "open" &&
		document.querySelector("#ws .state").textContent === "open"`)
	publish(t, base, "before")
	for _, panel := range []string{"sse", "ws"} {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`JSON.stringify(window.seen.%s) === '["before"]'`, panel))
	}

	stop()
	l, err = net.Listen("tcp", addr)
	require.NoError(t, err, "listen again on %s", addr)
	serve(t, l)
	// Both panels come back, are told that their cursor is gone, and
	// continue after the new top.
	for _, panel := range []string{"sse", "ws"} {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelector("#%s .state").textContent.startsWith("reset")`, panel))
	}
	publish(t, base, "after 1")
	publish(t, base, "after 2")
	for _, panel := range []string{"sse", "ws"} {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`JSON.stringify(window.seen.%s) === '["before","after 1","after 2"]'`, panel))
	}
}
