package ws

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedServer serves h behind a gate (503 while closed) on a listener
// whose connections the test can cut.
func gatedServer(t *testing.T, h *Handler) (url string, gate *atomic.Bool, kl *testnet.KillListener) {
	t.Helper()
	if h.Broker == nil {
		b := &bus.Memory{}
		t.Cleanup(func() { b.Close() })
		h.Broker = b
	}
	gate = &atomic.Bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gate.Load() {
			http.Error(w, "gate closed", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	kl = &testnet.KillListener{Listener: srv.Listener}
	srv.Listener = kl
	srv.Start()
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), gate, kl
}

func (c *Client) connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

func waitUntil(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never met")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestPublishWhileDisconnectedIsSentAfterReconnect(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	url, gate, kl := gatedServer(t, &Handler{Broker: b})
	ctx := testCtx(t)
	c := connect(t, &Client{URL: url, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	s, err := c.Subscribe(ctx, "t", "")
	require.NoError(t, err)

	gate.Store(true)
	kl.KillRandom()
	waitUntil(t, ctx, func() bool { return !c.connected() })

	res := make(chan error, 1)
	go func() {
		_, err := c.Publish(ctx, "t", bus.Message{Data: []byte("queued")})
		res <- err
	}()
	waitUntil(t, ctx, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.ops) == 1 })
	select {
	case err := <-res:
		t.Fatalf("publish finished while disconnected: %v", err)
	default:
	}
	gate.Store(false)
	require.NoError(t, <-res)
	assert.Equal(t, "queued", string(recv(t, ctx, s).Data))
	msgs, err := b.Read(ctx, "t", bus.Oldest, 0)
	require.NoError(t, err)
	assert.Len(t, msgs, 1, "stored exactly once")
}

// stallBroker holds every Publish until released.
type stallBroker struct {
	bus.Broker
	started chan struct{}
	release chan struct{}
}

func (b *stallBroker) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	b.started <- struct{}{}
	<-b.release
	return b.Broker.Publish(ctx, topic, m)
}

func TestPublishLostAckFailsWithErrNoAck(t *testing.T) {
	mem := &bus.Memory{}
	defer mem.Close()
	sb := &stallBroker{Broker: mem, started: make(chan struct{}, 1), release: make(chan struct{})}
	url, _, kl := gatedServer(t, &Handler{Broker: sb})
	ctx := testCtx(t)
	c := connect(t, &Client{URL: url, MinBackoff: time.Millisecond})

	res := make(chan error, 1)
	go func() {
		_, err := c.Publish(ctx, "t", bus.Message{Data: []byte("x")})
		res <- err
	}()
	<-sb.started // the server has the frame
	kl.KillRandom()
	err := <-res
	assert.ErrorIs(t, err, ErrNoAck)
	close(sb.release)
}

// TestClientReportsGap: a message whose ID does not follow the previous one
// ends the subscription with a *bus.CursorError wrapping
// bus.ErrCursorExpired whose Cursor is the last ID delivered, as every
// client reports a gap; subscribing again after it resumes.
func TestClientReportsGap(t *testing.T) {
	// A broken server that skips id e-2 on the first subscribe.
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			_, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			e, _ := decodeEnvelope(p)
			mu.Lock()
			requests = append(requests, e.Op+" "+e.After)
			first := len(requests) == 1
			mu.Unlock()
			if e.Op != opSubscribe {
				continue
			}
			c.Write(ctx, websocket.MessageText, encode(&envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic, ID: e.After}))
			ids := []string{"e-2", "e-3"}
			if first {
				ids = []string{"e-1", "e-3"}
			}
			for _, id := range ids {
				c.Write(ctx, websocket.MessageText, encodeMessage(bus.Message{Topic: e.Topic, ID: id}))
			}
		}
	}))
	defer srv.Close()
	ctx := testCtx(t)
	c := connect(t, &Client{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), MinBackoff: time.Millisecond})
	s, err := c.Subscribe(ctx, "t", "e-0")
	require.NoError(t, err)
	assert.Equal(t, "e-1", recv(t, ctx, s).ID)
	_, ok := <-s.C()
	require.False(t, ok, "the gap ends the subscription")
	require.ErrorIs(t, s.Err(), bus.ErrCursorExpired)
	var ce *bus.CursorError
	require.ErrorAs(t, s.Err(), &ce)
	assert.Equal(t, "t", ce.Topic)
	assert.Equal(t, "e-1", ce.Cursor, "the last ID delivered")

	s, err = c.Subscribe(ctx, "t", ce.Cursor)
	require.NoError(t, err)
	for _, want := range []string{"e-2", "e-3"} {
		assert.Equal(t, want, recv(t, ctx, s).ID)
	}
	mu.Lock()
	assert.Equal(t, []string{"subscribe e-0", "unsubscribe ", "subscribe e-1"}, requests, "the server is told to stop, then resubscribed after the last ID")
	mu.Unlock()
	c.Close()
}

func TestSubscriptionEnds(t *testing.T) {
	t.Run("broker closed", func(t *testing.T) {
		b := &bus.Memory{}
		_, url := newServer(t, &Handler{Broker: b})
		ctx := testCtx(t)
		c := connect(t, NewClient(url))
		s, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		b.Close()
		_, ok := <-s.C()
		assert.False(t, ok)
		assert.ErrorIs(t, s.Err(), bus.ErrClosed)
	})
	t.Run("client closed", func(t *testing.T) {
		_, url := newServer(t, &Handler{})
		ctx := testCtx(t)
		c := connect(t, NewClient(url))
		s, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, c.Close())
		_, ok := <-s.C()
		assert.False(t, ok)
		assert.ErrorIs(t, s.Err(), bus.ErrClosed)
		_, err = c.Publish(ctx, "t", bus.Message{})
		assert.ErrorIs(t, err, bus.ErrClosed)
		_, err = c.Subscribe(ctx, "u", "")
		assert.ErrorIs(t, err, bus.ErrClosed)
	})
	t.Run("context done", func(t *testing.T) {
		_, url := newServer(t, &Handler{})
		ctx := testCtx(t)
		c := connect(t, NewClient(url))
		sctx, cancel := context.WithCancel(ctx)
		s, err := c.Subscribe(sctx, "t", "")
		require.NoError(t, err)
		cancel()
		_, ok := <-s.C()
		assert.False(t, ok)
		assert.True(t, errors.Is(s.Err(), context.Canceled))
		// The topic is free again.
		s2, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		s2.Close()
	})
}
