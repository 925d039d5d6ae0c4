package ws

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientStopsOnPermanentRefusal: a reconnect answered 403 ends the
// subscriptions with a *StatusError instead of retrying forever, while a 503
// is retried.
func TestClientStopsOnPermanentRefusal(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	var h atomic.Pointer[Handler]
	h.Store(&Handler{Broker: b})
	var refuse atomic.Int32  // the status refusing handshakes, 0 for none
	var refused atomic.Int32 // handshakes refused so far
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := refuse.Load(); code != 0 {
			refused.Add(1)
			http.Error(w, http.StatusText(int(code)), int(code))
			return
		}
		h.Load().ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &Client{URL: srv.URL, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	sub, err := c.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	published, err := c.Publish(ctx, "t", bus.Message{Data: []byte("before")})
	require.NoError(t, err)
	require.Equal(t, published.ID, (<-sub.C()).ID)

	// A temporary refusal is retried: the client is back once it lifts.
	refuse.Store(http.StatusServiceUnavailable)
	require.NoError(t, h.Load().Shutdown(ctx))
	h.Store(&Handler{Broker: b})
	for refused.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	assert.NoError(t, sub.Err(), "a 503 is not the end")
	refuse.Store(0)
	m, err := b.Publish(ctx, "t", bus.Message{Data: []byte("after 503")})
	require.NoError(t, err)
	select {
	case got := <-sub.C():
		assert.Equal(t, m.ID, got.ID)
	case <-ctx.Done():
		t.Fatal("the client did not come back after the 503s")
	}

	// A permanent refusal ends everything with the status.
	refuse.Store(http.StatusForbidden)
	require.NoError(t, h.Load().Shutdown(ctx))
	for range sub.C() {
	}
	var se *StatusError
	require.True(t, errors.As(sub.Err(), &se), "subscription error %v", sub.Err())
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	assert.False(t, se.Temporary())
	_, err = c.Publish(ctx, "t", bus.Message{Data: []byte("refused")})
	assert.True(t, errors.As(err, &se), "publish after the refusal: %v", err)
	_, err = c.Subscribe(ctx, "u", "")
	assert.True(t, errors.As(err, &se), "subscribe after the refusal: %v", err)
	require.NoError(t, c.Close())
}

// TestClientStopsOnFrameOverReadLimit: a message larger than the client's
// ReadLimit ends the subscriptions with a clear error rather than a loop of
// reconnects that fetch the same frame again.
func TestClientStopsOnFrameOverReadLimit(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	var upgrades atomic.Int32
	h := &Handler{Broker: b}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer h.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &Client{URL: srv.URL, ReadLimit: 1024, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	require.NoError(t, c.Connect(ctx))
	defer c.Close()
	sub, err := c.Subscribe(ctx, "big", "")
	require.NoError(t, err)
	_, err = b.Publish(ctx, "big", bus.Message{Data: make([]byte, 4096)})
	require.NoError(t, err)
	for range sub.C() {
		t.Fatal("the oversized message must not be delivered")
	}
	assert.ErrorIs(t, sub.Err(), websocket.ErrMessageTooBig)
	assert.Equal(t, int32(1), upgrades.Load(), "no reconnect after an oversized frame")
	_, err = c.Subscribe(ctx, "other", "")
	assert.ErrorIs(t, err, websocket.ErrMessageTooBig)
}
