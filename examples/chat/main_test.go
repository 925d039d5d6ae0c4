package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer serves the chat on a fresh broker.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	b := &bus.Memory{}
	h := newHandler(b)
	srv := httptest.NewServer(newApp(h))
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
		_ = b.Close()
	})
	return srv
}

// TestRoomsOverEveryTransport: a message published to one room reaches a
// subscriber of that room on each transport, and only that room.
func TestRoomsOverEveryTransport(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := auto.NewClient(srv.URL + "/rt")
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		c := auto.NewClient(srv.URL + "/rt")
		c.Transports = []string{tr}
		c.PollInterval = 20 * time.Millisecond
		lobby, err := c.Subscribe(ctx, "chat/lobby", "")
		require.NoError(t, err, tr)
		random, err := c.Subscribe(ctx, "chat/random", "")
		require.NoError(t, err, tr)

		text := `{"name":"ann","text":"hi over ` + tr + `"}`
		_, err = pub.Publish(ctx, "chat/random", bus.Message{Type: "chat.message", Data: []byte(`{"name":"bob","text":"elsewhere"}`)})
		require.NoError(t, err)
		_, err = pub.Publish(ctx, "chat/lobby", bus.Message{Type: "chat.message", Data: []byte(text)})
		require.NoError(t, err)
		m := <-lobby.C()
		assert.Equal(t, text, string(m.Data), tr)
		assert.Equal(t, "chat.message", m.Type, tr)
		m = <-random.C()
		assert.Contains(t, string(m.Data), "elsewhere", tr)
		require.NoError(t, lobby.Close())
		require.NoError(t, random.Close())
	}
}

// TestOnlyTheRooms: other topics are refused for reading and writing, and
// an oversized message is refused.
func TestOnlyTheRooms(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := auto.NewClient(srv.URL + "/rt")
	_, err := c.Publish(ctx, "chat/secret", bus.Message{Data: []byte("x")})
	var se *auto.StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)

	for _, path := range []string{"/rt/negotiate?topic=chat/secret", "/rt/poll?topic=admin", "/rt/sse?topic=chat/lobby2"} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
	}

	_, err = c.Publish(ctx, "chat/lobby", bus.Message{Data: []byte(strings.Repeat("x", maxMessage+1))})
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, se.StatusCode)
}
