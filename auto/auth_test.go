package auto_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/auto/autotest"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
)

// tokens is a Bearer whose tokens are "subject" or "subject;expiry in Unix
// nanoseconds": alice may subscribe to and publish on "room/*" and "t",
// bob may only subscribe to "room/*"; "down" cannot be checked (503).
func tokens() *auth.Bearer {
	return &auth.Bearer{Query: "access_token", Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
		sub, exp, _ := strings.Cut(tok, ";")
		id := &auth.Identity{Subject: sub}
		switch sub {
		case "alice":
			id.Subscribe, id.Publish = []string{"room/*", "t"}, []string{"room/*", "t"}
		case "bob":
			id.Subscribe = []string{"room/*"}
		case "down":
			return nil, errors.New("key server unreachable")
		default:
			return nil, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
		}
		if exp != "" {
			n, err := strconv.ParseInt(exp, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: bad expiry", auth.ErrUnauthenticated)
			}
			id.Expires = time.Unix(0, n)
		}
		return id, nil
	}}
}

func do(t *testing.T, method, url, token, body string) (*http.Response, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

// With Auth set, negotiate, publish and every transport's route refuse
// a request without valid credentials with 401 and a challenge, a topic
// not granted with 403, credentials that cannot be checked with 503.
func TestAuthRefusals(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := newServer(t, &auto.Handler{Broker: b, Auth: tokens()})
	pub := srv.URL + "/publish?topic=room/1"
	tests := []struct {
		name, method, url, token string
		status                   int
		challenge                string
	}{
		{"negotiate without token", "GET", srv.URL + "/negotiate", "", 401, `Bearer realm="pushpull"`},
		{"negotiate bad token", "GET", srv.URL + "/negotiate?topic=room/1", "mallory", 401, `Bearer realm="pushpull", error="invalid_token"`},
		{"negotiate expired", "GET", srv.URL + "/negotiate?topic=room/1", "alice;1", 401, `Bearer realm="pushpull", error="invalid_token"`},
		{"negotiate not granted", "GET", srv.URL + "/negotiate?topic=secret", "alice", 403, ""},
		{"negotiate granted", "GET", srv.URL + "/negotiate?topic=room/1", "bob", 200, ""},
		{"negotiate unavailable", "GET", srv.URL + "/negotiate", "down", 503, ""},
		{"publish without token", "POST", pub, "", 401, `Bearer realm="pushpull"`},
		{"publish not granted", "POST", pub, "bob", 403, ""},
		{"publish unavailable", "POST", pub, "down", 503, ""},
		{"publish granted", "POST", pub, "alice", 200, ""},
		{"sse without token", "GET", srv.URL + "/sse?topic=room/1", "", 401, `Bearer realm="pushpull"`},
		{"longpoll without token", "GET", srv.URL + "/longpoll?topic=room/1", "", 401, `Bearer realm="pushpull"`},
		{"poll without token", "GET", srv.URL + "/poll?topic=room/1", "", 401, `Bearer realm="pushpull"`},
		{"poll not granted", "GET", srv.URL + "/poll?topic=secret", "alice", 403, ""},
		{"ws without token", "GET", srv.URL + "/ws", "", 401, `Bearer realm="pushpull"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, tt.method, tt.url, tt.token, `{"data":"hi"}`)
			assert.Equal(t, tt.status, res.StatusCode, "%v", body)
			assert.Equal(t, tt.challenge, res.Header.Get("WWW-Authenticate"))
			if tt.status == 503 {
				assert.NotEmpty(t, res.Header.Get("Retry-After"))
			}
		})
	}
	// The Go client gets the statuses as *StatusError.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &auto.Client{URL: srv.URL, Token: func(context.Context) (string, error) { return "bob", nil }}
	_, err := c.Publish(ctx, "room/1", bus.Message{Data: []byte("hi")})
	var se *auto.StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	c = &auto.Client{URL: srv.URL}
	_, err = c.Subscribe(ctx, "room/1", "")
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
}

// OnPublish stamps or refuses what is published over HTTP and over
// WebSocket alike, with the publisher's identity.
func TestOnPublishStamp(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &auto.Handler{Broker: b, Auth: tokens(), OnPublish: func(_ context.Context, id *auth.Identity, m *bus.Message) error {
		if m.Type == "bad" {
			return fmt.Errorf("%w: no bad messages", bus.ErrInvalidMessage)
		}
		return auth.Stamp(m, "from", id)
	}}
	srv := newServer(t, h)
	pub := srv.URL + "/publish?topic=room/1"
	res, _ := do(t, "POST", pub, "alice", `{"data":"hi","meta":{"from":"bob"}}`)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	res, body := do(t, "POST", pub, "alice", `{"type":"bad"}`)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Equal(t, "invalid_message", body["error"])
	res, _ = do(t, "POST", pub, "alice", `{"data":"one"}`)
	require.Equal(t, http.StatusOK, res.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &auth.Transport{Token: func(context.Context) (string, error) { return "alice", nil }}}
	c := ws.NewClient(strings.Replace(srv.URL, "http", "ws", 1) + "/ws")
	c.HTTPClient = hc
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	_, err := c.Publish(ctx, "room/1", bus.Message{Data: []byte("x"), Meta: map[string]string{"from": "bob"}})
	assert.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Publish(ctx, "room/1", bus.Message{Data: []byte("two")})
	require.NoError(t, err)

	msgs, err := b.Read(ctx, "room/1", bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	for i, want := range []string{"one", "two"} {
		assert.Equal(t, want, string(msgs[i].Data))
		assert.Equal(t, "alice", msgs[i].Meta["from"])
	}
}

// shortTokens hands out alice's tokens that live life each, refreshed when
// less than half of it is left, and counts them.
type shortTokens struct {
	life   time.Duration
	mu     sync.Mutex
	exp    time.Time
	issued atomic.Int64
}

func (s *shortTokens) token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Until(s.exp) < s.life/2 {
		s.exp = time.Now().Add(s.life)
		s.issued.Add(1)
	}
	return fmt.Sprintf("alice;%d", s.exp.UnixNano()), nil
}

// With tokens that live 300 ms, the server ends every live connection
// again and again; the client comes back each time with a fresh token
// from its cursor, on WebSocket and after it fell back to SSE, and every
// message arrives once and in order.
func TestClientTokenRefreshAcrossFallback(t *testing.T) {
	r := newRig(t, 0, 10000)
	r.h.Auth = tokens()
	st := &shortTokens{life: 300 * time.Millisecond}
	r.client.Token = st.token
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := r.client.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	defer s.Close()
	sub := s.(*auto.Subscription)
	require.Equal(t, auto.WebSocket, sub.Transport())
	got := 0
	// Publish and read until several tokens expired under the connection.
	step := func(until int64) {
		for st.issued.Load() < until {
			r.publish(t, 5)
			read(t, ctx, sub, &got, r.n)
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	step(4)
	r.proxy.SetFaults(autotest.MuteWebSocket | autotest.RefuseWebSocket)
	r.proxy.CutAll()
	waitTransport(t, ctx, sub, auto.SSE)
	step(st.issued.Load() + 4)
	r.publish(t, 5)
	read(t, ctx, sub, &got, r.n)
	assert.NoError(t, sub.Err())
}
