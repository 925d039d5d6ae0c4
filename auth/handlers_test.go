package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokens is a Bearer whose tokens are "<subject>" (an hour),
// "<subject>;<duration>" (expiring after the duration) or
// "<subject>;<unix nanoseconds>" (expiring then). Every subject may
// subscribe to "room/*" and "user/<subject>/*" and publish on "room/*";
// "down" cannot be checked.
func tokens() *auth.Bearer {
	return &auth.Bearer{
		Cookie: "token",
		Query:  "access_token",
		Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
			sub, life, ok := strings.Cut(tok, ";")
			exp := time.Now().Add(time.Hour)
			if ok {
				if ns, err := strconv.ParseInt(life, 10, 64); err == nil {
					exp = time.Unix(0, ns) // "<subject>;<unix nanoseconds>"
				} else if d, err := time.ParseDuration(life); err == nil {
					exp = time.Now().Add(d)
				} else {
					return nil, fmt.Errorf("%w: bad duration", auth.ErrUnauthenticated)
				}
			}
			switch {
			case sub == "down":
				return nil, errors.New("key server unreachable")
			case sub == "" || strings.ContainsAny(sub, "/ "):
				return nil, fmt.Errorf("%w: bad token", auth.ErrUnauthenticated)
			}
			return &auth.Identity{
				Subject:   sub,
				Expires:   exp,
				Subscribe: []string{"room/*", "user/" + sub + "/*"},
				Publish:   []string{"room/*"},
			}, nil
		},
	}
}

func bearer(tok string) http.Header {
	if tok == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newBroker(t *testing.T) *bus.Memory {
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	return b
}

// statusOf returns the HTTP status of a client's StatusError in err, or 0.
func statusOf(err error) int {
	var pe *poll.StatusError
	var le *longpoll.StatusError
	var se *sse.StatusError
	var we *ws.StatusError
	switch {
	case errors.As(err, &pe):
		return pe.StatusCode
	case errors.As(err, &le):
		return le.StatusCode
	case errors.As(err, &se):
		return se.StatusCode
	case errors.As(err, &we):
		return we.StatusCode
	}
	return 0
}

// An httpTransport is one of the one-topic-per-request transports, served
// by a Handler with Auth and read by its own Client.
type httpTransport struct {
	name  string
	serve func(b bus.Broker, a auth.Authorizer, hook func(*http.Request, string) error) http.Handler
	sub   func(url string, h http.Header) bus.Subscriber
}

var httpTransports = []httpTransport{
	{"poll", func(b bus.Broker, a auth.Authorizer, hook func(*http.Request, string) error) http.Handler {
		return &poll.Handler{Broker: b, Auth: a, Authorize: hook, Interval: 10 * time.Millisecond}
	}, func(url string, h http.Header) bus.Subscriber { return &poll.Client{URL: url, Header: h} }},
	{"longpoll", func(b bus.Broker, a auth.Authorizer, hook func(*http.Request, string) error) http.Handler {
		return &longpoll.Handler{Broker: b, Auth: a, Authorize: hook}
	}, func(url string, h http.Header) bus.Subscriber { return &longpoll.Client{URL: url, Header: h} }},
	{"sse", func(b bus.Broker, a auth.Authorizer, hook func(*http.Request, string) error) http.Handler {
		return &sse.Handler{Broker: b, Auth: a, Authorize: hook}
	}, func(url string, h http.Header) bus.Subscriber { return &sse.Client{URL: url, Header: h} }},
}

// Every transport: 401 without or with bad credentials, 503 when they
// cannot be checked, 403 for a topic the identity is not granted or the
// hook refuses, and delivery for a granted one; the hook sees the identity.
func TestTransportsAuthorize(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBroker(t)
			var hookSaw sync.Map
			hook := func(r *http.Request, topic string) error {
				id, ok := auth.FromContext(r.Context())
				if !ok {
					return errors.New("no identity")
				}
				hookSaw.Store(id.Subject, topic)
				if topic == "room/hooked" {
					return errors.New("the hook says no")
				}
				return nil
			}
			srv := httptest.NewServer(tr.serve(b, tokens(), hook))
			defer srv.Close()

			for tok, want := range map[string]int{
				"":             http.StatusUnauthorized,
				"bad/token":    http.StatusUnauthorized,
				"alice;-1s":    http.StatusUnauthorized, // expired
				"down":         http.StatusServiceUnavailable,
				"alice;notdur": http.StatusUnauthorized,
			} {
				if want == http.StatusServiceUnavailable {
					// Clients retry 503: check the status with a plain request.
					req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"?topic=room/1", nil)
					req.Header = bearer(tok)
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, want, resp.StatusCode, "token %q", tok)
					continue
				}
				_, err := tr.sub(srv.URL, bearer(tok)).Subscribe(ctx, "room/1", "")
				assert.Equal(t, want, statusOf(err), "token %q: %v", tok, err)
			}
			for topic, want := range map[string]int{
				"user/bob/inbox": http.StatusForbidden, // another user's
				"lobby":          http.StatusForbidden, // not granted at all
				"room/hooked":    http.StatusForbidden, // the hook refuses
			} {
				_, err := tr.sub(srv.URL, bearer("alice")).Subscribe(ctx, topic, "")
				assert.Equal(t, want, statusOf(err), "topic %q: %v", topic, err)
			}

			s, err := tr.sub(srv.URL, bearer("alice")).Subscribe(ctx, "user/alice/inbox", bus.Oldest)
			require.NoError(t, err)
			defer s.Close()
			_, err = b.Publish(ctx, "user/alice/inbox", bus.Message{Data: []byte("hi")})
			require.NoError(t, err)
			m := recv(t, ctx, s)
			assert.Equal(t, "hi", string(m.Data))
			saw, _ := hookSaw.Load("alice")
			assert.Equal(t, "user/alice/inbox", saw)
		})
	}
}

// The token may come in the header, a cookie or the query; a bad header
// token is not rescued by a good query token.
func TestTokenSources(t *testing.T) {
	b := newBroker(t)
	srv := httptest.NewServer(&poll.Handler{Broker: b, Auth: tokens()})
	defer srv.Close()
	get := func(query string, h http.Header) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"?topic=room/1"+query, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	assert.Equal(t, 200, get("", bearer("alice")).StatusCode)
	assert.Equal(t, 200, get("", http.Header{"Cookie": {"token=alice"}}).StatusCode)
	assert.Equal(t, 200, get("&access_token=alice", nil).StatusCode)
	resp := get("&access_token=alice", bearer("bad/token"))
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, `Bearer realm="pushpull", error="invalid_token"`, resp.Header.Get("WWW-Authenticate"))
	resp = get("", nil)
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, `Bearer realm="pushpull"`, resp.Header.Get("WWW-Authenticate"))
}

func recv(t *testing.T, ctx context.Context, s bus.Subscription) bus.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		require.True(t, ok, "subscription ended: %v", s.Err())
		return m
	case <-ctx.Done():
		t.Fatal("no message")
	}
	return bus.Message{}
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func newWS(t *testing.T, h *ws.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return srv
}

// ws: 401 before the upgrade; forbidden error frames for topics not
// granted, the connection staying open; publishing needs a publish grant.
func TestWSAuthorize(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t)
	srv := newWS(t, &ws.Handler{Broker: b, Auth: tokens(),
		Authorize: func(r *http.Request, action ws.Action, topic string) error {
			if id, ok := auth.FromContext(r.Context()); !ok || id.Subject != "alice" {
				return errors.New("the hook sees no identity")
			}
			if topic == "room/hooked" {
				return errors.New("the hook says no")
			}
			return nil
		}})

	for _, tok := range []string{"", "bad/token", "alice;-1s"} {
		c := &ws.Client{URL: wsURL(srv), Header: bearer(tok)}
		err := c.Connect(ctx)
		assert.Equal(t, 401, statusOf(err), "token %q: %v", tok, err)
		c.Close()
	}
	c := &ws.Client{URL: wsURL(srv) + "?access_token=alice"}
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	_, err := c.Subscribe(ctx, "user/bob/inbox", "")
	assert.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Subscribe(ctx, "room/hooked", "")
	assert.ErrorIs(t, err, ws.ErrForbidden, "the hook refuses after Auth allowed")
	_, err = c.Publish(ctx, "user/alice/inbox", bus.Message{Data: []byte("x")})
	assert.ErrorIs(t, err, ws.ErrForbidden, "subscribe grant used for publish")
	s, err := c.Subscribe(ctx, "room/1", "")
	require.NoError(t, err)
	defer s.Close()
	_, err = c.Publish(ctx, "room/1", bus.Message{Data: []byte("hello")})
	require.NoError(t, err)
	assert.Equal(t, "hello", string(recv(t, ctx, s).Data))
}

// ws: OnPublish with auth.Stamp signs every message with the publisher's
// subject, and a client cannot publish as someone else.
func TestWSStamp(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t)
	srv := newWS(t, &ws.Handler{Broker: b, Auth: tokens(),
		OnPublish: func(_ context.Context, c *ws.Conn, m *bus.Message) error {
			return auth.Stamp(m, "from", c.Identity())
		}})
	c := &ws.Client{URL: wsURL(srv), Header: bearer("alice")}
	require.NoError(t, c.Connect(ctx))
	defer c.Close()

	_, err := c.Publish(ctx, "room/1", bus.Message{Data: []byte("I am bob"), Meta: map[string]string{"from": "bob"}})
	require.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Publish(ctx, "room/1", bus.Message{Data: []byte("hi"), Meta: map[string]string{"lang": "en"}})
	require.NoError(t, err)
	msgs, err := b.Read(ctx, "room/1", bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the spoofed message was stored")
	assert.Equal(t, map[string]string{"from": "alice", "lang": "en"}, msgs[0].Meta)
}

// ws: a connection whose identity expires is closed with CloseExpired.
func TestWSExpiryCloseCode(t *testing.T) {
	ctx := testCtx(t)
	srv := newWS(t, &ws.Handler{Broker: newBroker(t), Auth: tokens()})
	conn, _, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{
		HTTPHeader: bearer("alice;50ms"), Subprotocols: []string{ws.Subprotocol},
	})
	require.NoError(t, err)
	defer conn.CloseNow()
	_, _, err = conn.Read(ctx)
	assert.Equal(t, ws.CloseExpired, websocket.CloseStatus(err), "%v", err)
}
