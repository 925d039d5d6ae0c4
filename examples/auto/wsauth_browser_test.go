package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/ws"
)

// wsAuthPage subscribes with ws/client.js and a token callback that keeps
// its token until the client reports it expired.
const wsAuthPage = `<!doctype html><meta charset="utf-8"><title>ws auth test</title>
<script type="module">
import { Client } from "/pushpull-ws.js";
let tok;
window.refreshes = 0;
window.got = [];
window.errors = [];
const c = new Client(location.origin.replace(/^http/, "ws") + "/ws", { minBackoff: 20, maxBackoff: 200,
  token: async ({ expired }) => {
    if (expired || !tok) {
      tok = await (await fetch("/token")).text();
      window.refreshes++;
    }
    return tok;
  } });
try {
  window.sub = await c.subscribe("t", {
    onMessage: (m) => window.got.push(m.data),
    onError: (e) => window.errors.push(String(e)),
  });
} catch (e) {
  window.error = String(e);
}
window.ready = true;
</script>`

// ws/client.js: the server closes the connection with 4001 when the token
// expires (every 300 ms); the page fetches a fresh one, reconnects and
// resumes from its cursor, and what was published meanwhile arrives once
// and in order.
func TestBrowserWSClientTokenRefresh(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{Broker: b, Auth: &auth.Bearer{Query: "access_token", Verify: authVerify}}
	ti := &tokenIssuer{asked: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(ti.release) }) }
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	mux.Handle("GET /pushpull-ws.js", ws.ClientJS())
	mux.Handle("GET /token", ti)
	mux.HandleFunc("GET /ws-auth.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(wsAuthPage))
	})
	srv := httptest.NewServer(mux)
	defer func() {
		release()
		_ = h.Shutdown(context.Background())
		srv.Close()
	}()
	n := 0
	publish := func(k int) {
		for range k {
			n++
			_, err := b.Publish(context.Background(), "t", busMessage(n))
			require.NoError(t, err)
		}
	}

	ctx := browsertest.New(t, 90*time.Second)
	open(t, ctx, srv.URL+"/ws-auth.html")
	publish(5)
	received(t, ctx, 5)
	select {
	case <-ti.asked: // closed with 4001, the page wants a fresh token
	case <-ctx.Done():
		t.Fatal("the page never asked for a fresh token")
	}
	publish(10)
	release()
	received(t, ctx, 15)
	for {
		refreshes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.refreshes`))
		require.NoError(t, err)
		if refreshes >= 5 {
			break
		}
		publish(3)
		received(t, ctx, n)
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.errors.join("; ") + "|" + window.got.length`))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("|%d", n), got, "no error, no duplicate")
}
