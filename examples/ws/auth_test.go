package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chat stamps every message with its sender, refuses one that claims
// another sender, lists who is online and keeps presence topics to
// itself.
func TestChatSendersAndPresence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := &bus.Memory{}
	defer b.Close()
	app, h := newApp(b)
	srv := httptest.NewServer(app)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		srv.Close()
	}()
	c := &ws.Client{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?name=alice"}
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	_, err := c.Subscribe(ctx, "chat", "")
	require.NoError(t, err)

	_, err = c.Publish(ctx, "chat", bus.Message{Data: []byte(`{"text":"I am bob"}`), Meta: map[string]string{"from": "bob"}})
	assert.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Publish(ctx, "presence/chat", bus.Message{Type: presence.TypeJoin, Data: []byte(`{"subject":"mallory"}`)})
	assert.ErrorIs(t, err, ws.ErrForbidden)
	_, err = c.Publish(ctx, "chat", bus.Message{Data: []byte(`{"text":"hi"}`)})
	require.NoError(t, err)
	msgs, err := b.Read(ctx, "chat", bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "alice", msgs[0].Meta["from"])

	resp, err := http.Get(srv.URL + "/presence?topic=chat&name=bob")
	require.NoError(t, err)
	defer resp.Body.Close()
	var list presence.List
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Len(t, list.Members, 1)
	assert.Equal(t, "alice", list.Members[0].Subject)
}
