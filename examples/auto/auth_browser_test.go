package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// authPage subscribes with a token callback that keeps its token until
// the client reports it expired, then fetches a fresh one from /token.
const authPage = `<!doctype html><meta charset="utf-8"><title>auth test</title>
<script type="module">
import { Client } from "/rt/client.js";
const q = new URLSearchParams(location.search);
let tok;
window.refreshes = 0;
const c = new Client("/rt", { transports: [q.get("transport")], pollInterval: 20,
  token: async ({ expired }) => {
    if (expired || !tok) {
      tok = await (await fetch("/token")).text();
      window.refreshes++;
    }
    return tok;
  } });
window.got = [];
window.errors = [];
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

// tokenLife is how long the page's tokens live.
const tokenLife = 300 * time.Millisecond

// authVerify accepts "alice;<expiry in Unix nanoseconds>", allowed to
// subscribe to t.
func authVerify(_ context.Context, tok string) (*auth.Identity, error) {
	sub, exp, _ := strings.Cut(tok, ";")
	n, err := strconv.ParseInt(exp, 10, 64)
	if sub != "alice" || err != nil {
		return nil, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
	}
	return &auth.Identity{Subject: sub, Expires: time.Unix(0, n), Subscribe: []string{"t"}}, nil
}

// tokenIssuer serves /token: short-lived tokens, the second of which is
// handed out only once the test released it, so the test can publish
// while the page holds an expired token. It also publishes the test's
// messages on b.
type tokenIssuer struct {
	b           *bus.Memory
	n           int // messages published
	mu          sync.Mutex
	issued      int
	asked       chan struct{}
	release     chan struct{}
	releaseOnce sync.Once
}

func newTokenIssuer(t *testing.T) *tokenIssuer {
	ti := &tokenIssuer{b: &bus.Memory{}, asked: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { ti.b.Close() })
	t.Cleanup(ti.releaseNow) // runs first: no handler stays blocked
	return ti
}

func (ti *tokenIssuer) releaseNow() { ti.releaseOnce.Do(func() { close(ti.release) }) }

func (ti *tokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ti.mu.Lock()
	ti.issued++
	n := ti.issued
	ti.mu.Unlock()
	if n == 2 {
		close(ti.asked)
		select {
		case <-ti.release:
		case <-r.Context().Done():
			return
		}
	}
	_, _ = fmt.Fprintf(w, "alice;%d", time.Now().Add(tokenLife).UnixNano())
}

func (ti *tokenIssuer) publish(t *testing.T, k int) {
	t.Helper()
	for range k {
		ti.n++
		_, err := ti.b.Publish(context.Background(), "t", busMessage(ti.n))
		require.NoError(t, err)
	}
}

// expireAndRefresh drives a page subscribed to t whose window.refreshes
// counts its fresh tokens: messages published while it waits for its
// first fresh token, then over four more expiries, must all arrive once
// and in order, and the page must report no error.
func (ti *tokenIssuer) expireAndRefresh(t *testing.T, ctx context.Context) {
	t.Helper()
	ti.publish(t, 5)
	received(t, ctx, 5)
	// The first token expires; the page asks for a fresh one, which
	// waits while messages are published.
	select {
	case <-ti.asked:
	case <-ctx.Done():
		t.Fatal("the page never asked for a fresh token")
	}
	ti.publish(t, 10)
	ti.releaseNow()
	received(t, ctx, 15)
	for {
		refreshes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.refreshes`))
		require.NoError(t, err)
		if refreshes >= 5 {
			break
		}
		ti.publish(t, 3)
		received(t, ctx, ti.n)
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	ti.publish(t, 5)
	received(t, ctx, ti.n)
	errs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.errors.join("; ") + "|" + window.got.length`))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("|%d", ti.n), errs, "no error, no duplicate")
}

// On every transport the page's tokens expire every 300 ms: the server ends
// the connection (ws close 4001, an SSE stream or long poll ended, a 401),
// the page fetches a fresh token and resumes from its cursor; the messages
// published while it held an expired token arrive, none missing, none
// twice, and the subscription never fails.
func TestBrowserTokenRefresh(t *testing.T) {
	for _, name := range auto.DefaultTransports() {
		t.Run(name, func(t *testing.T) {
			ti := newTokenIssuer(t)
			h := &auto.Handler{Broker: ti.b, Prefix: "/rt", PollInterval: 20 * time.Millisecond, LongPollTimeout: 2 * time.Second, Heartbeat: time.Second,
				Auth: &auth.Bearer{Query: "access_token", Verify: authVerify}}
			mux := http.NewServeMux()
			mux.Handle("/rt/", h)
			mux.Handle("GET /token", ti)
			mux.HandleFunc("GET /auth.html", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(authPage))
			})
			srv := httptest.NewServer(mux)
			t.Cleanup(func() {
				_ = h.Shutdown(context.Background())
				srv.Close()
			})
			ctx := browsertest.New(t, 90*time.Second)
			open(t, ctx, srv.URL+"/auth.html?transport="+name)
			ti.expireAndRefresh(t, ctx)
			sub, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.sub.transport`))
			require.NoError(t, err)
			assert.Equal(t, name, sub, "no fallback")
		})
	}
}
