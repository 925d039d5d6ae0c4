package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A page's EventSource receives events from sse.Handler; after the server
// drops the connection the browser reconnects by itself with Last-Event-ID
// and misses nothing published meanwhile.
func TestBrowserReconnects(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &sse.Handler{Broker: b, Retry: 300 * time.Millisecond}
	app := newApp(b, h)
	var mu sync.Mutex
	var lastIDs []string // Last-Event-ID of each stream request
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events/demo" {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			mu.Unlock()
		}
		app.ServeHTTP(w, r)
	}))
	// The streams run on hijacked connections, which httptest does not
	// track: keep them to drop them.
	conns := &trackListener{Listener: srv.Listener}
	srv.Listener = conns
	srv.Start()
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ctx := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "window.opens === 1")
	waitStreams(t, h, 1)

	var ids []string
	pub := func(from, to int) {
		for i := from; i <= to; i++ {
			m, err := b.Publish(context.Background(), "demo", bus.Message{Type: "tick", Data: fmt.Appendf(nil, "%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
	}
	pub(1, 5)
	browsertest.WaitFor(t, ctx, "window.got.length === 5")

	// Drop the connection, publish while the browser is away (it waits
	// the retry time before it reconnects).
	conns.closeAll()
	pub(6, 10)

	browsertest.WaitFor(t, ctx, "window.got.length >= 10 && window.opens >= 2")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify(window.got)"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `["1","2","3","4","5","6","7","8","9","10"]`; got != want {
		t.Fatalf("browser received %s, want %s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) < 2 || lastIDs[0] != "" || lastIDs[1] != ids[4] {
		t.Fatalf("Last-Event-ID of the requests: %q, want \"\" then %q", lastIDs, ids[4])
	}
}

type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func waitStreams(t *testing.T, h *sse.Handler, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Streams() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", h.Streams(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
