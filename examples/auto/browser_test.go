package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/auto/autotest"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPage subscribes with short probes and keeps what it receives in
// window.got for the test to read.
const testPage = `<!doctype html><meta charset="utf-8"><title>auto test</title>
<script type="module">
import { Client } from "/rt/client.js";
const q = new URLSearchParams(location.search);
const c = new Client("/rt", { connectTimeout: 1000, probeInterval: 300, probeTimeout: 700, upgradeInterval: 500,
  pollInterval: 20, transports: q.get("transports") ? q.get("transports").split(",") : undefined });
window.c = c;
window.got = [];
window.resets = [];
window.errors = [];
window.transports = [];
window.switched = []; // [transport, ms since the page started subscribing]
const t0 = performance.now();
window.since = () => Math.round(performance.now() - t0);
window.marks = {};
try {
  window.sub = await c.subscribe(q.get("topic") || "t", {
    after: q.get("after") || "",
    onMessage: (m) => window.got.push(typeof m.data === "string" ? m.data : "bytes:" + Array.from(m.data).join(".")),
    onReset: (r) => window.resets.push(r),
    onError: (e) => (window.errors.push(e.status || String(e))),
    onTransport: (n) => (window.transports.push(n), window.switched.push([n, window.since()])),
  });
} catch (e) {
  window.error = String(e);
}
window.ready = true;
</script>`

// site is the example app plus the test page, behind a autotest.
type site struct {
	b     *bus.Memory
	proxy *autotest.Proxy
	n     int
}

func newSite(t *testing.T, h *auto.Handler, faults autotest.Fault, history int) *site {
	t.Helper()
	b := &bus.Memory{HistorySize: history}
	h.Broker, h.Prefix = b, "/rt"
	mux := http.NewServeMux()
	mux.Handle("/", newApp(h))
	mux.HandleFunc("GET /test.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(testPage))
	})
	srv := httptest.NewServer(mux)
	proxy := autotest.New(srv.URL)
	proxy.SetFaults(faults)
	t.Cleanup(func() {
		proxy.Close()
		_ = h.Shutdown(context.Background())
		srv.Close()
		b.Close()
	})
	return &site{b: b, proxy: proxy}
}

func (s *site) publish(t *testing.T, n int) {
	t.Helper()
	for range n {
		s.n++
		_, err := s.b.Publish(context.Background(), "t", busMessage(s.n))
		require.NoError(t, err)
	}
}

// busMessage is the n-th message of a test: its Data is n.
func busMessage(n int) bus.Message { return bus.Message{Data: []byte(strconv.Itoa(n))} }

func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	browsertest.WaitFor(t, ctx, "window.ready === true")
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.error || ""`))
	require.NoError(t, err)
	require.Empty(t, msg)
}

// received waits for n messages in the page and checks they are 1..n.
func received(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	browsertest.WaitFor(t, ctx, fmt.Sprintf("window.got.length >= %d", n))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.got.join(",")`))
	require.NoError(t, err)
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	require.Equal(t, strings.Join(want, ","), got)
}

func transport(t *testing.T, ctx context.Context) string {
	t.Helper()
	used, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.transports.join(" → ")`))
	t.Log("transports used:", used)
	name, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.sub.transport`))
	require.NoError(t, err)
	return name
}

// Through each hostile proxy the page receives 1,000 messages once and in
// order on the expected transport, then returns to WebSocket once the
// proxy behaves and receives 10 more there.
func TestBrowserFallback(t *testing.T) {
	tests := []struct {
		name       string
		faults     autotest.Fault
		transports string
		expect     string
		stream     func(t *testing.T, ctx context.Context, s *site)
	}{
		{name: "refused upgrade", faults: autotest.RefuseWebSocket, expect: auto.SSE},
		{name: "silent upgrade", faults: autotest.MuteWebSocket, expect: auto.SSE},
		{name: "buffered SSE", faults: autotest.RefuseWebSocket | autotest.BufferSSE, expect: auto.LongPoll},
		{name: "polling last", faults: autotest.RefuseWebSocket | autotest.BufferSSE, transports: "websocket,sse,poll", expect: auto.Poll},
		{name: "cuts", expect: auto.WebSocket, stream: func(t *testing.T, ctx context.Context, s *site) {
			for i := 1; i <= 5; i++ {
				s.publish(t, 100)
				s.proxy.CutAll()
				s.publish(t, 100)
				received(t, ctx, 200*i)
			}
		}},
		{name: "blocked after 300", expect: auto.SSE, stream: func(t *testing.T, ctx context.Context, s *site) {
			s.publish(t, 300)
			received(t, ctx, 300)
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marks.muted = window.since(), true`))
			require.NoError(t, err)
			s.proxy.SetFaults(autotest.MuteWebSocket)
			s.publish(t, 700)
			received(t, ctx, 1000)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, &auto.Handler{PollInterval: 20 * time.Millisecond, LongPollTimeout: 2 * time.Second, Heartbeat: time.Second}, tt.faults, 10000)
			// A browser of its own: a second tab would run in the
			// background, where Chromium throttles its timers.
			ctx := browsertest.New(t, 90*time.Second)
			open(t, ctx, s.proxy.URL()+"/test.html?transports="+tt.transports)
			if tt.stream != nil {
				tt.stream(t, ctx, s)
			} else {
				s.publish(t, 1000)
				received(t, ctx, 1000)
			}
			if tt.name != "cuts" {
				assert.Equal(t, tt.expect, transport(t, ctx))
			}
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marks.healed = window.since(), true`))
			require.NoError(t, err)
			s.proxy.SetFaults(0)
			want := auto.WebSocket
			if tt.transports != "" {
				want = strings.Split(tt.transports, ",")[0]
			}
			browsertest.WaitFor(t, ctx, fmt.Sprintf("window.sub.transport === %q", want))
			// Switch times, for the record (not asserted).
			times, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({switched: window.switched, marks: window.marks})`))
			require.NoError(t, err)
			t.Log("transport (ms since subscribe):", times)
			s.publish(t, 10)
			received(t, ctx, 1010)
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.got.length + window.resets.length`))
			require.NoError(t, err)
			assert.Equal(t, 1010, n, "no duplicate, no reset")
		})
	}
}

// The page publishes over HTTP; refusals reject with the status.
func TestBrowserPublish(t *testing.T) {
	h := &auto.Handler{MaxMessageBytes: 100, Authorize: func(r *http.Request, a auto.Action, topic string) error {
		if a == auto.ActionPublish && topic == "readonly" {
			return fmt.Errorf("read only")
		}
		return nil
	}}
	s := newSite(t, h, 0, 0)
	ctx := browsertest.New(t, 60*time.Second)
	open(t, ctx, s.proxy.URL()+"/test.html")
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.c.publish("t", "hello").then((a) => a.id)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.NotEmpty(t, id)
	browsertest.WaitFor(t, ctx, `window.got.length === 1 && window.got[0] === "hello"`)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`window.c.publish("t", new Uint8Array([0, 255])).then((a) => a.id)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	browsertest.WaitFor(t, ctx, `window.got.length === 2 && window.got[1] === "bytes:0.255"`)
	for expr, want := range map[string]int{
		`window.c.publish("readonly", "x")`:          403,
		`window.c.publish("t", "x".repeat(1000))`:    413,
		`window.c.publish("bad topic", "x")`:         400,
		`window.c.publish("t", "x", {type: "a\nb"})`: 400,
	} {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr+`.then(() => 200, (e) => e.status)`, chromedp.EvalAwaitPromise))
		require.NoError(t, err, expr)
		assert.Equal(t, want, st, expr)
	}
}

// A cursor the server cannot serve reaches the page as onReset with the
// top, and the subscription carries on after it, on every transport.
func TestBrowserReset(t *testing.T) {
	for _, name := range []string{auto.WebSocket, auto.SSE, auto.LongPoll, auto.Poll} {
		t.Run(name, func(t *testing.T) {
			// The broker keeps 5 messages: the first ID expires.
			s := newSite(t, &auto.Handler{PollInterval: 20 * time.Millisecond}, 0, 5)
			s.publish(t, 20)
			ms, err := s.b.Read(context.Background(), "t", "", 1)
			require.NoError(t, err)
			top := ms[0].ID
			stale := strings.Replace(top, "-20", "-1", 1)
			ctx := browsertest.New(t, 60*time.Second)
			open(t, ctx, s.proxy.URL()+"/test.html?transports="+name+"&after="+stale)
			browsertest.WaitFor(t, ctx, "window.resets.length === 1")
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.resets[0].top + " " + window.resets[0].cursor`))
			require.NoError(t, err)
			assert.Equal(t, top+" "+stale, got)
			s.publish(t, 2)
			browsertest.WaitFor(t, ctx, "window.got.length === 2")
			got, err = chromedp.Run(ctx, chromedp.Evaluate[string](`window.got.join(",")`))
			require.NoError(t, err)
			assert.Equal(t, "21,22", got)
		})
	}
}

// A subscription whose authorization is revoked ends, and the page hears
// of it through onError with the 403.
func TestBrowserRevoked(t *testing.T) {
	var denied atomic.Bool
	h := &auto.Handler{Authorize: func(_ *http.Request, _ auto.Action, _ string) error {
		if denied.Load() {
			return fmt.Errorf("revoked")
		}
		return nil
	}}
	s := newSite(t, h, 0, 0)
	ctx := browsertest.New(t, 60*time.Second)
	open(t, ctx, s.proxy.URL()+"/test.html")
	denied.Store(true)
	s.proxy.CutAll()
	browsertest.WaitFor(t, ctx, "window.errors.length === 1")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.errors[0] + " " + window.sub.transport`))
	require.NoError(t, err)
	assert.Equal(t, "403 ", got)
}
