package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve runs h at /events/{topic} on a real loopback server.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /events/{topic}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHandlerHeadersAndFirstBytes(t *testing.T) {
	modes(t, headersAndFirstBytes)
}

func headersAndFirstBytes(t *testing.T, disableHijack bool) {
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, Retry: 1500 * time.Millisecond, DisableHijack: disableHijack}
	status := make(chan int, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // set by middleware
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		status <- sw.status
	}))
	top, err := b.Top(context.Background(), "news")
	require.NoError(t, err)

	resp, err := http.Get(srv.URL + "/events/news")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Date"), "the head is net/http's")
	assert.True(t, resp.Close, "Connection: close")
	if !disableHijack {
		assert.Empty(t, resp.TransferEncoding, "hijacked: not chunked, the body ends with the connection")
	}
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	// Before any message: a comment, the retry time and the top's id.
	want := ":ok\nretry: 1500\n\nid: " + top + "\n\n"
	got := make([]byte, len(want))
	_, err = io.ReadFull(resp.Body, got)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
	require.NoError(t, h.Shutdown(context.Background()))
	assert.Equal(t, http.StatusOK, <-status, "middleware saw the status")
}

// statusWriter is middleware's view of a response: the status written
// through it. Unwrap lets http.ResponseController reach the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestHandlerWireFormat(t *testing.T) { modes(t, wireFormat) }

func wireFormat(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, Retry: -1, DisableHijack: disableHijack})
	resp, err := http.Get(srv.URL + "/events/news")
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readUntil(t, r, "\n\nid: ")
	readUntil(t, r, "\n\n")
	ms := publish(t, b, "news",
		bus.Message{Type: "a.b", Data: []byte("one\r\ntwo\rthree\nfour")},
		bus.Message{Data: nil},
		bus.Message{Data: []byte("x\n")})
	want := "id: " + ms[0].ID + "\nevent: a.b\ndata: one\ndata: two\ndata: three\ndata: four\n\n" +
		"id: " + ms[1].ID + "\ndata: \n\n" +
		"id: " + ms[2].ID + "\ndata: x\ndata: \n\n"
	got := make([]byte, len(want))
	_, err = io.ReadFull(r, got)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
}

type noFlushWriter struct{ http.ResponseWriter }

type unwrapWriter struct{ w http.ResponseWriter }

func (u unwrapWriter) Header() http.Header         { return u.w.Header() }
func (u unwrapWriter) Write(p []byte) (int, error) { return u.w.Write(p) }
func (u unwrapWriter) WriteHeader(code int)        { u.w.WriteHeader(code) }
func (u unwrapWriter) Unwrap() http.ResponseWriter { return u.w }

func TestHandlerErrors(t *testing.T) { modes(t, handlerErrors) }

func handlerErrors(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	deny := errors.New("secret reason")
	for _, tc := range []struct {
		name   string
		h      *Handler
		wrap   func(http.Handler) http.Handler
		path   string
		header map[string]string
		code   int
		body   string
	}{
		{name: "no topic", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/plain", code: 400, body: "invalid topic"},
		{name: "invalid topic", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/plain?topic=a%20b", code: 400, body: "invalid topic"},
		{name: "unknown topic", h: &Handler{Broker: b, Topic: func(*http.Request) (string, error) { return "", errors.New("no such feed") }, DisableHijack: disableHijack},
			path: "/events/x", code: 404, body: "no such feed"},
		{name: "forbidden", h: &Handler{Broker: b, Authorize: func(*http.Request, string) error { return deny }, DisableHijack: disableHijack},
			path: "/events/x", code: 403, body: "sse: forbidden"},
		{name: "malformed header cursor", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/events/x", header: map[string]string{"Last-Event-ID": "nope"}, code: 400, body: "invalid cursor"},
		{name: "malformed query cursor", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/events/x?last_event_id=x-01", code: 400, body: "invalid cursor"},
		{name: "cannot flush", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/events/x", code: 500, body: "cannot flush",
			wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(noFlushWriter{w}, r) })
			}},
		{name: "unwrap flushes", h: &Handler{Broker: b, DisableHijack: disableHijack}, path: "/events/x", code: 200,
			wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(unwrapWriter{w}, r) })
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h http.Handler = tc.h
			if tc.wrap != nil {
				h = tc.wrap(h)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /events/{topic}", h)
			mux.Handle("GET /plain", h)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tc.code, resp.StatusCode)
			if tc.code != 200 {
				body, _ := io.ReadAll(resp.Body)
				assert.Contains(t, string(body), tc.body)
				assert.NotContains(t, string(body), "secret")
				assert.NotEqual(t, "text/event-stream", resp.Header.Get("Content-Type"))
			} else {
				assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestHandlerMaxStreamsAndShutdown(t *testing.T) { modes(t, maxStreamsAndShutdown) }

func maxStreamsAndShutdown(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, MaxStreams: 2, Retry: 2500 * time.Millisecond, DisableHijack: disableHijack}
	srv := serve(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	get := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/x", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	r1, r2 := get(), get()
	defer r1.Body.Close()
	defer r2.Body.Close()
	r3 := get()
	r3.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, r3.StatusCode)
	assert.Equal(t, "3", r3.Header.Get("Retry-After"))
	assert.Equal(t, 2, h.Streams())

	require.NoError(t, h.Shutdown(ctx))
	assert.Zero(t, h.Streams())
	for _, r := range []*http.Response{r1, r2} {
		_, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
	}
	r4 := get()
	r4.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, r4.StatusCode)
}

func TestHandlerResetOnExpiredCursor(t *testing.T) { modes(t, resetOnExpiredCursor) }

func resetOnExpiredCursor(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 3}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, Retry: -1, DisableHijack: disableHijack})
	ms := publish(t, b, "p", bus.Message{Data: []byte("1")}, bus.Message{Data: []byte("2")},
		bus.Message{Data: []byte("3")}, bus.Message{Data: []byte("4")}, bus.Message{Data: []byte("5")})
	top := ms[4].ID
	for _, cursor := range []string{ms[0].ID, "otherepoch-3", strings.Split(top, "-")[0] + "-99"} {
		t.Run(cursor, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/events/p", nil)
			req.Header.Set("Last-Event-ID", cursor)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			want := ":ok\n\nevent: reset\nid: " + top + "\ndata: {\"top\":\"" + top + "\"}\n\n"
			got := make([]byte, len(want))
			_, err = io.ReadFull(resp.Body, got)
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
			// Then live from the top.
			m := publish(t, b, "p", bus.Message{Data: []byte("6")})[0]
			r := bufio.NewReader(resp.Body)
			readUntil(t, r, "id: "+m.ID+"\ndata: 6\n\n")
			top = m.ID
		})
	}
}

func TestHandlerQueryCursor(t *testing.T) { modes(t, queryCursor) }

func queryCursor(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, Retry: -1, DisableHijack: disableHijack})
	ms := publish(t, b, "q", bus.Message{Data: []byte("1")}, bus.Message{Data: []byte("2")}, bus.Message{Data: []byte("3")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The header wins over the query parameter.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/q?last_event_id="+ms[0].ID, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	got := readUntil(t, r, "data: 3\n\n")
	assert.Equal(t, ":ok\n\nid: "+ms[1].ID+"\ndata: 2\n\nid: "+ms[2].ID+"\ndata: 3\n\n", got)

	req2, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/q?last_event_id="+ms[0].ID, nil)
	req2.Header.Set("Last-Event-ID", ms[1].ID)
	resp2, err := http.DefaultClient.Do(req2)
	require.NoError(t, err)
	defer resp2.Body.Close()
	got = readUntil(t, bufio.NewReader(resp2.Body), "data: 3\n\n")
	assert.Equal(t, ":ok\n\nid: "+ms[2].ID+"\ndata: 3\n\n", got)
}

// Every message is encoded once, however many streams carry it.
func TestHandlerEncodesOnce(t *testing.T) { modes(t, encodesOnce) }

func encodesOnce(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, DisableHijack: disableHijack}
	srv := serve(t, h)
	const clients, msgs = 20, 50
	c := NewClient(srv.URL + "/events/{topic}")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subs []bus.Subscription
	for range clients {
		sub, err := c.Subscribe(ctx, "fan", "")
		require.NoError(t, err)
		defer sub.Close()
		subs = append(subs, sub)
	}
	for i := range msgs {
		publish(t, b, "fan", bus.Message{Type: "n", Data: fmt.Appendf(nil, "%d", i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, sub := range subs {
		wg.Go(func() {
			for i := range msgs {
				select {
				case m, ok := <-sub.C():
					if !ok || string(m.Data) != fmt.Sprint(i) {
						errs <- fmt.Errorf("message %d: got %q (open %v, err %v)", i, m.Data, ok, sub.Err())
						return
					}
				case <-time.After(10 * time.Second):
					errs <- fmt.Errorf("message %d: timed out", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.EqualValues(t, msgs, h.cache.Encodes())
}
