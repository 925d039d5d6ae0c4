package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auth"
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
	ti := newTokenIssuer(t)
	h := &ws.Handler{Broker: ti.b, Auth: &auth.Bearer{Query: "access_token", Verify: authVerify}}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	mux.Handle("GET /pushpull-ws.js", ws.ClientJS())
	mux.Handle("GET /token", ti)
	mux.HandleFunc("GET /ws-auth.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(wsAuthPage))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
	})
	ctx := browsertest.New(t, 90*time.Second)
	open(t, ctx, srv.URL+"/ws-auth.html")
	ti.expireAndRefresh(t, ctx)
}
