package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer serves the chat on a fresh broker.
func newServer(t *testing.T) (*chat, *httptest.Server) {
	t.Helper()
	b := &bus.Memory{}
	c := newChat(b)
	srv := httptest.NewServer(c.handler())
	t.Cleanup(func() {
		_ = c.rt.Shutdown(context.Background())
		srv.Close()
		_ = b.Close()
	})
	return c, srv
}

// client returns a client of the chat at srv whose token is name.
func client(srv *httptest.Server, name string) *auto.Client {
	c := auto.NewClient(srv.URL + "/rt")
	c.Token = func(context.Context) (string, error) { return name, nil }
	return c
}

// TestRoomsOverEveryTransport: a message published to one room reaches a
// subscriber of that room on each transport, and only that room, with the
// name of its sender set by the server; the subscriber is listed in the
// room while its subscription is live on WebSocket and SSE.
func TestRoomsOverEveryTransport(t *testing.T) {
	app, srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := client(srv, "ann")
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		c := client(srv, "bob")
		c.Transports = []string{tr}
		c.PollInterval = 20 * time.Millisecond
		lobby, err := c.Subscribe(ctx, "chat/lobby", "")
		require.NoError(t, err, tr)
		random, err := c.Subscribe(ctx, "chat/random", "")
		require.NoError(t, err, tr)

		text := `{"name":"ann","text":"hi over ` + tr + `"}`
		// The server sets the name: posing as someone else does not work.
		_, err = pub.Publish(ctx, "chat/lobby", bus.Message{Type: "chat.message", Data: []byte(`{"name":"bob","text":"I am bob"}`)})
		require.NoError(t, err)
		m := <-lobby.C()
		assert.JSONEq(t, `{"name":"ann","text":"I am bob"}`, string(m.Data), tr)

		_, err = pub.Publish(ctx, "chat/random", bus.Message{Type: "chat.message", Data: []byte(`{"name":"bob","text":"elsewhere"}`)})
		require.NoError(t, err)
		_, err = pub.Publish(ctx, "chat/lobby", bus.Message{Type: "chat.message", Data: []byte(text)})
		require.NoError(t, err)
		m = <-lobby.C()
		assert.JSONEq(t, text, string(m.Data), tr)
		assert.Equal(t, "chat.message", m.Type, tr)
		m = <-random.C()
		assert.Contains(t, string(m.Data), "elsewhere", tr)
		listed := func() bool {
			return slices.ContainsFunc(app.presence.Members("chat/lobby"), func(m presence.Member) bool { return m.Subject == "bob" })
		}
		if tr == "websocket" || tr == "sse" {
			assert.True(t, listed(), tr)
		} else {
			// Polls are no live subscriptions; the stream of the
			// previous round may take a moment to end at the server.
			for listed() {
				require.NoError(t, ctx.Err(), "%s: bob still listed", tr)
				time.Sleep(10 * time.Millisecond)
			}
		}
		require.NoError(t, lobby.Close())
		require.NoError(t, random.Close())
	}
}

// TestOnlyTheRooms: a reader without a name is refused (401); other
// topics are refused for reading and writing, presence topics for
// writing, and an oversized message or one that is not a post is refused.
func TestOnlyTheRooms(t *testing.T) {
	_, srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := http.Get(srv.URL + "/rt/negotiate?topic=chat/lobby")
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)

	c := client(srv, "ann")
	_, err = c.Publish(ctx, "chat/secret", bus.Message{Data: []byte("x")})
	var se *auto.StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)

	_, err = c.Publish(ctx, "presence/chat/lobby", bus.Message{Data: []byte(`{"text":"x"}`)})
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	_, err = c.Publish(ctx, "chat/lobby", bus.Message{Data: []byte("not a post")})
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusBadRequest, se.StatusCode)

	for _, path := range []string{"/rt/negotiate?topic=chat/secret", "/rt/poll?topic=admin", "/rt/sse?topic=chat/lobby2", "/rt/presence?topic=chat/secret"} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer ann")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
	}

	_, err = c.Publish(ctx, "chat/lobby", bus.Message{Data: []byte(strings.Repeat("x", maxMessage+1))})
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, se.StatusCode)
}
