package longpoll_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveListener serves h (reached through wrap, when set) on a test
// server whose listener is h.Listener. Cleanup shuts h down, then closes
// the server.
func serveListener(t *testing.T, h *longpoll.Handler, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener = h.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		assert.NoError(t, h.Shutdown(context.Background()))
		srv.Close()
	})
	return srv
}

// dialGet opens a connection to srv and sends a GET of target on it.
func dialGet(t *testing.T, srv *httptest.Server, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target)
	require.NoError(t, err)
	return c
}

// getHeld sends a request that the handler holds, waits until it is held,
// publishes data and returns the answer and whether the request went out
// on a reused connection.
func getHeld(t *testing.T, hc *http.Client, h *longpoll.Handler, b bus.Broker, url, data string) (*http.Response, answer, bool) {
	t.Helper()
	var reused atomic.Bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
	})
	type got struct {
		resp *http.Response
		body []byte
		err  error
	}
	ch := make(chan got, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			ch <- got{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- got{resp: resp, body: body, err: err}
	}()
	waitUntil(t, func() bool { return h.Held() == 1 })
	pollwiretest.Publish(t, b, "news", data)
	g := <-ch
	require.NoError(t, g.err)
	a := result{code: g.resp.StatusCode, header: g.resp.Header, body: g.body}.answer(t)
	return g.resp, a, reused.Load()
}

// Requests held outside net/http are answered on their connection, which
// the client then reuses for the next request: keep-alive works as with
// requests held in ServeHTTP.
func TestListenerKeepAlive(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := serveListener(t, h, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Middleware", "before")
			next.ServeHTTP(w, r)
		})
	})
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	cursor := ""
	for i := range 5 {
		url := srv.URL + "/?topic=news"
		if cursor != "" {
			url += "&after=" + cursor
		}
		resp, a, reused := getHeld(t, hc, h, b, url, fmt.Sprint(i))
		assert.Equal(t, []string{fmt.Sprint(i)}, a.data())
		assert.Equal(t, i > 0, reused, "request %d: the connection is reused", i)
		assert.False(t, resp.Close, "kept alive")
		assert.Equal(t, "before", resp.Header.Get("X-Middleware"), "headers set before ServeHTTP are sent")
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.NotEmpty(t, resp.Header.Get("Date"))
		cursor = a.Cursor
	}
	// Requests that are answered at once stay on the same connection too.
	pollwiretest.Publish(t, b, "news", "x")
	resp, err := hc.Get(srv.URL + "/?topic=news&after=" + cursor)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, []string{"x"}, result{code: resp.StatusCode, body: body}.answer(t).data())
}

// The Go client follows a topic through a Handler that holds its requests
// outside net/http, with no gap and no duplicate.
func TestListenerClient(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := serveListener(t, h, nil)
	c := &longpoll.Client{URL: srv.URL + "/", HTTPClient: srv.Client()}
	defer srv.Client().CloseIdleConnections()
	sub, err := c.Subscribe(t.Context(), "news", "")
	require.NoError(t, err)
	defer sub.Close()
	for i := range 20 {
		waitUntil(t, func() bool { return h.Held() == 1 })
		pollwiretest.Publish(t, b, "news", fmt.Sprint(i))
		got := pollwiretest.Receive(t, sub, 1, 10*time.Second)
		assert.Equal(t, fmt.Sprint(i), string(got[0].Data))
	}
}

// A client that leaves while its request is held outside net/http frees
// its place at once, and the goroutine holding it ends (goleak checks).
func TestListenerClientLeaves(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := serveListener(t, h, nil)
	c := dialGet(t, srv, "/?topic=news")
	waitUntil(t, func() bool { return h.Held() == 1 })
	require.NoError(t, c.Close())
	waitUntil(t, func() bool { return h.Held() == 0 })
}

// Timeouts, expired cursors, Shutdown and MaxHeld behave on requests held
// outside net/http as on the others.
func TestListenerAnswers(t *testing.T) {
	b := &bus.Memory{HistorySize: 2}
	defer b.Close()
	h := &longpoll.Handler{Broker: b, MaxHeld: 1}
	srv := serveListener(t, h, nil)
	addr := srv.Listener.Addr().String()

	// A raw connection reads each answer and can send the next request.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(target string) {
		t.Helper()
		_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target)
		require.NoError(t, err)
	}
	read := func() (*http.Response, string) {
		t.Helper()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	// Timeout: an empty answer with the cursor.
	top, err := b.Top(t.Context(), "news")
	require.NoError(t, err)
	send("/?topic=news&timeout=0.2&after=" + top)
	resp, body := read()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"messages":[],"cursor":"`+top+`"}`, body)

	// Over capacity: one request held already.
	send("/?topic=news&after=" + top)
	waitUntil(t, func() bool { return h.Held() == 1 })
	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	_, err = fmt.Fprintf(c2, "GET /?topic=news&after=%s HTTP/1.1\r\nHost: x\r\n\r\n", top)
	require.NoError(t, err)
	resp2, err := http.ReadResponse(bufio.NewReader(c2), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp2.StatusCode)
	assert.True(t, resp2.Close)
	assert.NotEmpty(t, resp2.Header.Get("Retry-After"))

	// The held request is answered by a message; then the connection
	// serves a request whose cursor has expired.
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c", "d")
	resp, body = read()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, msgs[0].ID)
	send("/?topic=news&after=" + msgs[0].ID)
	resp, _ = read()
	assert.Equal(t, http.StatusGone, resp.StatusCode)

	// Shutdown answers a held request at once and closes its connection.
	send("/?topic=news&after=" + msgs[3].ID)
	waitUntil(t, func() bool { return h.Held() == 1 })
	require.NoError(t, h.Shutdown(t.Context()))
	resp, body = read()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, resp.Close, "Connection: close after Shutdown")
	assert.JSONEq(t, `{"messages":[],"cursor":"`+msgs[3].ID+`"}`, body)
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "closed")
}

// A client that sends its next request before the held one is answered
// (pipelining) gets both answers, or the first with Connection: close
// when the handler saw the second request's bytes while holding the
// first.
func TestListenerPipelining(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := serveListener(t, h, nil)
	c := dialGet(t, srv, "/?topic=news")
	defer c.Close()
	waitUntil(t, func() bool { return h.Held() == 1 })
	_, err := fmt.Fprintf(c, "GET /?topic=news HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	pollwiretest.Publish(t, b, "news", "a")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"data":"a"`)
	if resp.Close {
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "closed after the answer")
		return
	}
	waitUntil(t, func() bool { return h.Held() == 1 })
	pollwiretest.Publish(t, b, "news", "b")
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"data":"b"`)
}

// A request held outside net/http leaves ServeHTTP at once: its
// connection's net/http goroutine and buffers are freed while it is held.
// Through a plain listener, ServeHTTP holds it.
func TestListenerServeHTTPReturnsWhileHeld(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	var returned atomic.Int32
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			returned.Add(1)
		})
	}
	h := &longpoll.Handler{Broker: b}
	srv := serveListener(t, h, count)
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	_, a, _ := getHeld(t, hc, h, b, srv.URL+"/?topic=news", "a")
	assert.Equal(t, []string{"a"}, a.data())
	assert.EqualValues(t, 1, returned.Load())

	c := dialGet(t, srv, "/?topic=news")
	waitUntil(t, func() bool { return h.Held() == 1 })
	waitUntil(t, func() bool { return returned.Load() == 2 })
	require.NoError(t, c.Close())
	waitUntil(t, func() bool { return h.Held() == 0 })

	plain := &longpoll.Handler{Broker: b}
	ps := httptest.NewServer(count(plain))
	defer ps.Close()
	defer plain.Shutdown(context.Background())
	phc := ps.Client()
	defer phc.CloseIdleConnections()
	go func() {
		resp, err := phc.Get(ps.URL + "/?topic=news")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(t, func() bool { return plain.Held() == 1 })
	assert.EqualValues(t, 2, returned.Load(), "held in ServeHTTP")
	pollwiretest.Publish(t, b, "news", "b")
	waitUntil(t, func() bool { return returned.Load() == 3 })
}

// Over TLS, a Listener wrapping the TLS listener hands connections back
// and keeps them alive; under a server that adds TLS itself (as ServeTLS
// and httptest's StartTLS do) the connections are closed after each held
// answer instead, and every answer still arrives.
func TestListenerTLS(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	certs := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate and a client that trusts it
	defer certs.Close()

	h := &longpoll.Handler{Broker: b}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(h.Listener(tls.NewListener(ln, certs.TLS)))
	}()
	defer func() {
		assert.NoError(t, h.Shutdown(context.Background()))
		srv.Close()
		<-done
	}()
	hc := certs.Client()
	defer hc.CloseIdleConnections()
	url := "https://" + ln.Addr().String() + "/?topic=news"
	for i := range 3 {
		resp, a, reused := getHeld(t, hc, h, b, url, fmt.Sprint(i))
		assert.Equal(t, []string{fmt.Sprint(i)}, a.data())
		assert.Equal(t, i > 0, reused, "request %d over TLS: the connection is reused", i)
		assert.False(t, resp.Close)
		url = "https://" + ln.Addr().String() + "/?topic=news&after=" + a.Cursor
	}

	h2 := &longpoll.Handler{Broker: b}
	outer := httptest.NewUnstartedServer(h2)
	outer.Listener = h2.Listener(outer.Listener)
	outer.StartTLS() // TLS around the Handler's listener
	defer outer.Close()
	defer h2.Shutdown(context.Background())
	ohc := outer.Client()
	defer ohc.CloseIdleConnections()
	url = outer.URL + "/?topic=news"
	for i := range 2 {
		resp, a, _ := getHeld(t, ohc, h2, b, url, fmt.Sprint(i))
		assert.Equal(t, []string{fmt.Sprint(i)}, a.data())
		assert.True(t, resp.Close, "closed: it cannot be handed back")
		url = outer.URL + "/?topic=news&after=" + a.Cursor
	}
}
