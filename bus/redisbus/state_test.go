package redisbus_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reading, polling, long polling and subscribing to topics that do not
// exist store no key in Redis; only a publish creates a topic.
func TestUnknownTopicsStoreNoKeys(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	ctx := context.Background()

	mux := http.NewServeMux()
	mux.Handle("/poll", &poll.Handler{Broker: b})
	mux.Handle("/longpoll", &longpoll.Handler{Broker: b})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(target string) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + target)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		require.NoError(t, res.Body.Close())
	}
	for i := range 2000 {
		topic := fmt.Sprintf("ghost.%d", i)
		switch i % 4 {
		case 0:
			get("/poll?topic=" + topic)
		case 1:
			get("/poll?after=someepoch-3&topic=" + topic)
		case 2:
			get("/longpoll?timeout=0&after=" + bus.Origin + "&topic=" + topic)
		default:
			get("/longpoll?timeout=0.001&topic=" + topic)
		}
		top, err := b.Top(ctx, topic)
		require.NoError(t, err)
		require.Equal(t, bus.Origin, top)
		sub, err := b.Subscribe(ctx, topic, top)
		require.NoError(t, err)
		require.NoError(t, sub.Close())
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rc := redis.NewClient(opt)
	defer rc.Close()
	keys, err := rc.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Equal(t, 0, len(keys), "keys left by requests for unknown topics")

	// The cursor handed out for an unknown topic stays valid once it appears.
	sub, err := b.Subscribe(ctx, "appears", bus.Origin)
	require.NoError(t, err)
	defer sub.Close()
	m, err := b.Publish(ctx, "appears", bus.Message{Data: []byte("hello")})
	require.NoError(t, err)
	select {
	case got := <-sub.C():
		assert.Equal(t, m.ID, got.ID)
	case <-time.After(10 * time.Second):
		t.Fatal("the first message of a new topic was not delivered")
	}
}
