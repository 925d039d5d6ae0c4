package longpoll_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawGet sends one GET for target over a new connection to addr and
// returns the answer and its body as read off the wire.
func rawGet(t *testing.T, addr, target string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if !assert.NoError(t, err) {
		return &http.Response{}, ""
	}
	defer c.Close()
	_, err = io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: test\r\n\r\n")
	assert.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if !assert.NoError(t, err) {
		return &http.Response{}, ""
	}
	body, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	return resp, string(body)
}

// On HTTP/1 every answer, error or not, is on the wire when ServeHTTP
// returns, with its Content-Length, as net/http would have sent it.
func TestServeHTTPAnswerSentBeforeReturn(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 1}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b}
	read := make(chan struct{}, 16) // never blocks the test
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case <-read: // the client read the whole answer meanwhile
		case <-time.After(10 * time.Second): // a generous bound: it never comes
			t.Error("the answer was not sent before ServeHTTP returned")
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	top, err := b.Top(t.Context(), "news")
	require.NoError(t, err)
	msgs := pollwiretest.Publish(t, b, "news", "a", "b") // a expires

	cases := []struct {
		name, target string
		status       int
		publish      bool
	}{
		{"messages", "/?topic=news&after=" + msgs[0].ID, http.StatusOK, false},
		{"held then woken", "/?topic=news&after=" + msgs[1].ID, http.StatusOK, true},
		{"timeout", "/?topic=news&timeout=0", http.StatusOK, false},
		{"expired cursor", "/?topic=news&after=" + top, http.StatusGone, false},
		{"bad cursor", "/?topic=news&after=x", http.StatusBadRequest, false},
		{"bad limit", "/?topic=news&limit=x", http.StatusBadRequest, false},
	}
	for _, tc := range cases {
		type answer struct {
			resp *http.Response
			body string
		}
		got := make(chan answer, 1)
		go func() {
			resp, body := rawGet(t, addr, tc.target)
			got <- answer{resp, body}
		}()
		if tc.publish {
			waitUntil(t, func() bool { return h.Held() == 1 })
			pollwiretest.Publish(t, b, "news", "c")
		}
		a := <-got
		read <- struct{}{}
		resp, body := a.resp, a.body
		assert.Equal(t, tc.status, resp.StatusCode, tc.name+": "+body)
		assert.Equal(t, int64(len(body)), resp.ContentLength, tc.name)
		assert.Empty(t, resp.TransferEncoding, tc.name)
		assert.Equal(t, strconv.Itoa(len(body)), resp.Header.Get("Content-Length"), tc.name)
	}
	waitUntil(t, func() bool { return h.Held() == 0 })
}

// panicBroker panics in Top.
type panicBroker struct{ bus.Broker }

func (panicBroker) Top(context.Context, string) (string, error) { panic("top") }

// A panic of the Handler's work reaches the middleware around ServeHTTP.
func TestServeHTTPPanicReachesMiddleware(t *testing.T) {
	t.Parallel()
	m := &bus.Memory{}
	t.Cleanup(func() { m.Close() })
	h := &longpoll.Handler{Broker: panicBroker{m}}
	var recovered atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				recovered.Store(p)
				http.Error(w, "recovered", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	resp, _ := rawGet(t, srv.Listener.Addr().String(), "/?topic=news")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "top", recovered.Load())
}

// newH2Server serves h over HTTP/2 (TLS) and reports the protocol of each
// request it sees.
func newH2Server(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var h1 atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			h1.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &h1
}

// Over HTTP/2 the Handler works in ServeHTTP: a Client resumes without gap
// or duplicate across held requests, empty answers and its own cuts.
func TestServeHTTP2Client(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b, Timeout: 20 * time.Millisecond}
	srv, h1 := newH2Server(t, h)
	c := &longpoll.Client{URL: srv.URL, HTTPClient: srv.Client(), MinBackoff: time.Millisecond}
	sub, err := c.Subscribe(t.Context(), "news", bus.Oldest)
	require.NoError(t, err)
	t.Cleanup(func() { sub.Close() })
	// Each message is read before the next is published: a Client whose
	// buffer is full waits for its reader and holds no request.
	var want, got []string
	for i := range 20 {
		waitUntil(t, func() bool { return h.Held() == 1 })
		want = append(want, pollwiretest.Publish(t, b, "news", strconv.Itoa(i))[0].ID)
		for _, m := range pollwiretest.Receive(t, sub, 1, 10*time.Second) {
			got = append(got, m.ID)
		}
	}
	assert.Equal(t, want, got)
	assert.Zero(t, h1.Load(), "every request came over HTTP/2")
	require.NoError(t, sub.Close())
	waitUntil(t, func() bool { return h.Held() == 0 })
	require.NoError(t, h.Shutdown(t.Context()))
}

// Over HTTP/1, many Clients held on one topic are woken by one publication;
// a client that leaves while held frees its place under MaxHeld; Shutdown
// answers those still held at once.
func TestServeHTTPManyClientsOneTopic(t *testing.T) {
	t.Parallel()
	const clients = 20
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b, MaxHeld: clients}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.Client().CloseIdleConnections)
	c := &longpoll.Client{URL: srv.URL, HTTPClient: srv.Client()}

	// One more than MaxHeld: the last is held once the first leaves.
	leaving, err := c.Subscribe(t.Context(), "news", "")
	require.NoError(t, err)
	subs := make([]bus.Subscription, clients-1)
	for i := range subs {
		subs[i], err = c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
	}
	waitUntil(t, func() bool { return h.Held() == clients })
	require.NoError(t, leaving.Close())
	waitUntil(t, func() bool { return h.Held() == clients-1 })
	last, err := c.Subscribe(t.Context(), "news", "")
	require.NoError(t, err)
	subs = append(subs, last)
	waitUntil(t, func() bool { return h.Held() == clients })

	msgs := pollwiretest.Publish(t, b, "news", "one")
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() {
			got := pollwiretest.Receive(t, s, 1, 10*time.Second)
			assert.Equal(t, msgs[0].ID, got[0].ID)
		})
	}
	wg.Wait()
	waitUntil(t, func() bool { return h.Held() == clients })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))
	assert.Equal(t, 0, h.Held())
	for _, s := range subs {
		require.NoError(t, s.Close())
		assert.NoError(t, s.Err())
	}
}
