package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A script answers the nth request (from 0) to a fake server.
type script func(n int, w http.ResponseWriter, r *http.Request)

type request struct {
	header http.Header
	path   string
	at     time.Time
}

// fakeServer serves a script on a pipe network and records the requests.
type fakeServer struct {
	mu   sync.Mutex
	reqs []request
}

func (f *fakeServer) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func startFake(t *testing.T, s script) (*fakeServer, *Client) {
	f := &fakeServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirected" || r.URL.Path == "/events/t" {
			f.mu.Lock()
			n := len(f.reqs)
			f.reqs = append(f.reqs, request{header: r.Header.Clone(), path: r.URL.Path, at: time.Now()})
			f.mu.Unlock()
			s(n, w, r)
			return
		}
		s(-1, w, r)
	})
	hc := testnet.Serve(t, &http.Server{Handler: h})
	return f, &Client{URL: "http://pipe/events/{topic}", HTTPClient: hc}
}

func serveBody(body string) script {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

// drain reads a subscription to its end.
func drain(sub bus.Subscription) []bus.Message {
	var ms []bus.Message
	for m := range sub.C() {
		ms = append(ms, m)
	}
	return ms
}

func TestClientStatusesStop(t *testing.T) {
	for _, code := range []int{204, 205, 210, 299, 400, 401, 403, 404, 410, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, c := startFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					w.WriteHeader(code)
				})
				_, err := c.Subscribe(context.Background(), "t", "")
				require.Error(t, err)
				if code == 204 {
					assert.ErrorIs(t, err, ErrStopped)
				} else {
					var se *StatusError
					require.ErrorAs(t, err, &se)
					assert.Equal(t, code, se.StatusCode)
				}
				time.Sleep(time.Hour)
				assert.Len(t, f.requests(), 1, "no retry")
			})
		})
	}
}

func TestClientContentTypes(t *testing.T) {
	for _, tc := range []struct {
		ct string
		ok bool
	}{
		{"text/event-stream", true},
		{"text/event-stream;", true},
		{"text/event-stream; charset=windows-1252", true},
		{"Text/Event-Stream", true},
		{"x bogus", false},
		{"text/x-bogus", false},
		{"text/plain", false},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, c := startFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", tc.ct)
					io.WriteString(w, "id: e-1\ndata: ok\xE2\x80\xA6\n\n")
				})
				sub, err := c.Subscribe(context.Background(), "t", "")
				if !tc.ok {
					assert.ErrorIs(t, err, ErrNotEventStream)
					return
				}
				require.NoError(t, err)
				defer sub.Close()
				m := <-sub.C()
				assert.Equal(t, "ok…", string(m.Data))
			})
		})
	}
}

func TestClientFollowsRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/events/t" {
						http.Redirect(w, r, "/redirected", code)
						return
					}
					serveBody("id: e-1\ndata: moved\n\n")(n, w, r)
				})
				sub, err := c.Subscribe(context.Background(), "t", "")
				require.NoError(t, err)
				defer sub.Close()
				m := <-sub.C()
				assert.Equal(t, "moved", string(m.Data))
				reqs := f.requests()
				require.GreaterOrEqual(t, len(reqs), 2)
				assert.Equal(t, "/redirected", reqs[1].path)
				assert.Equal(t, "text/event-stream", reqs[1].header.Get("Accept"))
			})
		})
	}
}

func TestClientRequestHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An id with NUL is ignored and an event without an id keeps the
		// last one (WHATWG), so Last-Event-ID stays at the last message.
		bodies := []string{"id: e-1\ndata: a\n\n", "id: e-2\x00\ndata: b\n\n", "id: e-2\ndata: c\n\ndata: c\n\n", ":nothing\n"}
		f, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n < len(bodies) {
				serveBody(bodies[n])(n, w, r)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		c.Header = http.Header{"Authorization": {"Bearer t"}}
		sub, err := c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		ms := drain(sub)
		assert.ErrorIs(t, sub.Err(), ErrStopped)
		require.Len(t, ms, 2, "a, then c; b and the second c repeat an id already delivered")
		assert.Equal(t, "a", string(ms[0].Data))
		assert.Equal(t, "c", string(ms[1].Data))
		reqs := f.requests()
		require.Len(t, reqs, 5)
		for _, r := range reqs {
			assert.Equal(t, "text/event-stream", r.header.Get("Accept"))
			assert.Equal(t, "no-cache", r.header.Get("Cache-Control"))
			assert.Equal(t, "Bearer t", r.header.Get("Authorization"))
		}
		assert.NotContains(t, reqs[0].header, "Last-Event-Id", "no cursor, no header")
		assert.Equal(t, "e-1", reqs[1].header.Get("Last-Event-ID"))
		assert.Equal(t, "e-1", reqs[2].header.Get("Last-Event-ID"), "an id with NUL is ignored")
		assert.Equal(t, "e-2", reqs[3].header.Get("Last-Event-ID"))
		assert.Equal(t, "e-2", reqs[4].header.Get("Last-Event-ID"), "kept across a stream without events")
	})
}

func TestClientCursorHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := startFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		_, err := c.Subscribe(context.Background(), "t", "ep1-41")
		assert.ErrorIs(t, err, ErrStopped)
		assert.Equal(t, "ep1-41", f.requests()[0].header.Get("Last-Event-ID"))
		_, err = c.Subscribe(context.Background(), "t", "not a cursor")
		assert.ErrorIs(t, err, bus.ErrInvalidCursor)
		_, err = c.Subscribe(context.Background(), "bad topic", "")
		assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	})
}

func TestClientRetryTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			switch n {
			case 0:
				serveBody("retry: 2000\nid: e-1\ndata: x\n\n")(n, w, r)
			case 1, 2, 3:
				serveBody(":nothing\n")(n, w, r) // no event: a failed connection
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		})
		c.MaxBackoff = 5 * time.Second
		sub, err := c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		drain(sub)
		assert.ErrorIs(t, sub.Err(), ErrStopped)
		reqs := f.requests()
		require.Len(t, reqs, 5)
		gap := func(i int) time.Duration { return reqs[i].at.Sub(reqs[i-1].at) }
		assert.Equal(t, 2*time.Second, gap(1), "after a good stream: the server's retry time")
		assert.Equal(t, 2*time.Second, gap(2), "first failure: the retry time")
		for i := 3; i < 5; i++ {
			assert.GreaterOrEqual(t, gap(i), 2*time.Second+time.Second, "retry plus backoff")
			assert.LessOrEqual(t, gap(i), 2*time.Second+5*time.Second, "backoff capped")
		}
	})
}

// TestClientRetryStatuses: RetryStatuses adds to the statuses every client
// retries; Retry-After is honoured for both.
func TestClientRetryStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			switch n {
			case 0:
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusServiceUnavailable) // retried by default
				return
			case 1:
				w.Header().Set("Retry-After", "9")
				w.WriteHeader(http.StatusConflict) // retried as listed
				return
			}
			serveBody("id: e-1\ndata: up\n\n")(n, w, r)
		})
		c.RetryStatuses = []int{http.StatusConflict}
		c.Retry = time.Second
		sub, err := c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		defer sub.Close()
		m := <-sub.C()
		assert.Equal(t, "up", string(m.Data))
		reqs := f.requests()
		for i, ra := range []time.Duration{7 * time.Second, 9 * time.Second} {
			gap := reqs[i+1].at.Sub(reqs[i].at)
			assert.GreaterOrEqual(t, gap, ra, "Retry-After honoured")
			assert.Less(t, gap, ra+ra/10, "plus at most a tenth")
		}
	})
}

func TestClient200200204(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n < 2 {
				serveBody(fmt.Sprintf("retry: 10\nid: e-%d\ndata: %d\n\n", n+1, n))(n, w, r)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		sub, err := c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		ms := drain(sub)
		assert.ErrorIs(t, sub.Err(), ErrStopped)
		require.Len(t, ms, 2)
		assert.Equal(t, "0", string(ms[0].Data))
		assert.Equal(t, "1", string(ms[1].Data))
		time.Sleep(time.Hour)
		assert.Len(t, f.requests(), 3)
	})
}

func TestClientContinuity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bodies  []string
		want    []string // data received
		expired bool
		top     string
	}{
		{name: "duplicates dropped", bodies: []string{"id: e-1\ndata: 1\n\nid: e-2\ndata: 2\n\n", "id: e-1\ndata: 1\n\nid: e-2\ndata: 2\n\nid: e-3\ndata: 3\n\n"},
			want: []string{"1", "2", "3"}},
		{name: "gap", bodies: []string{"id: e-1\ndata: 1\n\nid: e-3\ndata: 3\n\n"}, want: []string{"1"}, expired: true},
		{name: "other epoch", bodies: []string{"id: e-1\ndata: 1\n\n", "id: f-2\ndata: 2\n\n"}, want: []string{"1"}, expired: true},
		{name: "reset", bodies: []string{"id: e-1\ndata: 1\n\n", "event: reset\nid: f-9\ndata: {\"top\":\"f-9\"}\n\n"}, want: []string{"1"}, expired: true, top: "f-9"},
		{name: "top id then messages", bodies: []string{"id: e-5\n\n", "id: e-6\ndata: 6\n\n"}, want: []string{"6"}},
		{name: "top id then gap", bodies: []string{"id: e-5\n\n", "id: e-7\ndata: 7\n\n"}, expired: true},
		{name: "top id then another epoch", bodies: []string{"id: e-5\n\nid: f-6\ndata: 6\n\n"}, expired: true},
		{name: "not an ID", bodies: []string{"id: e-1\ndata: 1\n\nid: nope\ndata: 2\n\n"}, want: []string{"1"}, expired: true},
		{name: "no ID", bodies: []string{"data: 1\n\n"}, expired: true},
		{name: "resumes after the last ID", bodies: []string{"id: e-1\ndata: 1\n\n", "id: e-1\ndata: 1\n\nid: e-2\ndata: 2\n\n"},
			want: []string{"1", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, c := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
					if n < len(tc.bodies) {
						serveBody("retry: 1\n"+tc.bodies[n])(n, w, r)
						return
					}
					w.WriteHeader(http.StatusNoContent)
				})
				sub, err := c.Subscribe(context.Background(), "t", "")
				require.NoError(t, err)
				var got []string
				for _, m := range drain(sub) {
					got = append(got, string(m.Data))
				}
				assert.Equal(t, tc.want, got)
				if !tc.expired {
					assert.ErrorIs(t, sub.Err(), ErrStopped)
					return
				}
				assert.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)
				top, ok := bus.TopOf(sub.Err())
				assert.Equal(t, tc.top, top)
				assert.Equal(t, tc.top != "", ok)
			})
		})
	}
}

func TestClientEventTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := startFake(t, serveBody("id: e-1\ndata: ok\n\ndata: 0123456789012345678901234567890123456789\n\n"))
		c.MaxEventSize = 32
		sub, err := c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		ms := drain(sub)
		require.Len(t, ms, 1)
		var tl *EventTooLargeError
		assert.ErrorAs(t, sub.Err(), &tl)
	})
}

func TestClientEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := startFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		cancel()
		drain(sub)
		assert.ErrorIs(t, sub.Err(), context.Canceled)

		sub, err = c.Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		require.NoError(t, sub.Close())
		require.NoError(t, sub.Close())
		_, open := <-sub.C()
		assert.False(t, open)
		assert.NoError(t, sub.Err())
	})
}

func TestClientServerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Client{URL: "http://pipe/events/{topic}", HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return nil, errors.New("connection refused") },
		}}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		sub, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err, "a network error is retried, not returned")
		drain(sub)
		assert.ErrorIs(t, sub.Err(), context.DeadlineExceeded, "retries for as long as the context lasts")
	})
}
