package ws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newServer serves h on a loopback httptest server that is closed (after
// h.Shutdown) when the test ends.
func newServer(t *testing.T, h *Handler) (*httptest.Server, string) {
	t.Helper()
	if h.Broker == nil {
		b := &bus.Memory{}
		t.Cleanup(func() { b.Close() })
		h.Broker = b
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return srv, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// connect connects c and closes it when the test ends.
func connect(t *testing.T, c *Client) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recv(t *testing.T, ctx context.Context, s bus.Subscription) bus.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		require.True(t, ok, "subscription ended: %v", s.Err())
		return m
	case <-ctx.Done():
		t.Fatal("timed out waiting for a message")
		return bus.Message{}
	}
}

func TestRoundTripMultiTopic(t *testing.T) {
	_, url := newServer(t, &Handler{})
	ctx := testCtx(t)
	sub := connect(t, NewClient(url))
	pub := connect(t, NewClient(url))

	a, err := sub.Subscribe(ctx, "a", "")
	require.NoError(t, err)
	b, err := sub.Subscribe(ctx, "b", "")
	require.NoError(t, err)

	payloads := [][]byte{[]byte("hello"), {0xff, 0x00, 0xfe}, nil, []byte(`{"json":"<&>"}`)}
	for i, p := range payloads {
		topic := []string{"a", "b"}[i%2]
		stored, err := pub.Publish(ctx, topic, bus.Message{Type: "t", Data: p, Meta: map[string]string{"k": "v"}})
		require.NoError(t, err)
		assert.NotEmpty(t, stored.ID)
		assert.False(t, stored.Time.IsZero())
		got := recv(t, ctx, map[string]bus.Subscription{"a": a, "b": b}[topic])
		assert.Equal(t, stored.ID, got.ID)
		assert.Equal(t, topic, got.Topic)
		assert.Equal(t, "t", got.Type)
		assert.Equal(t, len(p), len(got.Data))
		assert.Equal(t, string(p), string(got.Data))
		assert.Equal(t, "v", got.Meta["k"])
	}

	require.NoError(t, a.Close())
	_, ok := <-a.C()
	assert.False(t, ok)
	assert.NoError(t, a.Err())
	// After unsubscribing, a message on a still reaches nobody, b still works.
	_, err = pub.Publish(ctx, "a", bus.Message{Data: []byte("lost")})
	require.NoError(t, err)
	m, err := pub.Publish(ctx, "b", bus.Message{Data: []byte("kept")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, recv(t, ctx, b).ID)

	// Subscribing again from a cursor replays history.
	a2, err := sub.Subscribe(ctx, "a", bus.Oldest)
	require.NoError(t, err)
	for _, want := range []string{"hello", "", "lost"} {
		assert.Equal(t, want, string(recv(t, ctx, a2).Data))
	}
}

func TestSubscribeErrors(t *testing.T) {
	h := &Handler{
		MaxSubscriptions: 2,
		Authorize: func(r *http.Request, action Action, topic string) error {
			if strings.HasPrefix(topic, "secret") {
				return errors.New("no")
			}
			return nil
		},
	}
	_, url := newServer(t, h)
	ctx := testCtx(t)
	c := connect(t, NewClient(url))

	_, err := c.Subscribe(ctx, "secret", "")
	assert.ErrorIs(t, err, ErrForbidden)
	_, err = c.Publish(ctx, "secret", bus.Message{Data: []byte("x")})
	assert.ErrorIs(t, err, ErrForbidden)
	_, err = c.Subscribe(ctx, "x", "zz-1")
	assert.ErrorIs(t, err, bus.ErrCursorExpired)
	top, ok := bus.TopOf(err)
	assert.True(t, ok)
	assert.NotEmpty(t, top)
	_, err = c.Subscribe(ctx, "bad topic", "")
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	_, err = c.Subscribe(ctx, "x", "not a cursor")
	assert.ErrorIs(t, err, bus.ErrInvalidCursor)
	var ce *bus.CursorError
	assert.ErrorAs(t, err, &ce, "checked by the client as by a broker")
	_, err = c.Subscribe(ctx, "one", "")
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, "one", "")
	assert.ErrorIs(t, err, ErrAlreadySubscribed)
	_, err = c.Subscribe(ctx, "two", "")
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, "three", "")
	assert.ErrorIs(t, err, ErrTooManySubscriptions)
	// The connection survived every refusal.
	_, err = c.Publish(ctx, "one", bus.Message{Data: []byte("ok")})
	assert.NoError(t, err)
}

func TestConcurrentPublishers(t *testing.T) {
	_, url := newServer(t, &Handler{})
	ctx := testCtx(t)
	sub := connect(t, &Client{URL: url, Buffer: 256})
	s, err := sub.Subscribe(ctx, "many", "")
	require.NoError(t, err)

	const publishers, each = 100, 10
	errs := make(chan error, publishers)
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewClient(url)
			if err := c.Connect(ctx); err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range each {
				if _, err := c.Publish(ctx, "many", bus.Message{Data: fmt.Appendf(nil, "%d-%d", i, j)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	seen := make(map[string]bool)
	var last bus.Position
	for range publishers * each {
		m := recv(t, ctx, s)
		assert.False(t, seen[string(m.Data)], "duplicate %s", m.Data)
		seen[string(m.Data)] = true
		p, err := m.Position()
		require.NoError(t, err)
		if last.Epoch != "" {
			assert.True(t, p.Follows(last))
		}
		last = p
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, seen, publishers*each)
}

// TestReplayJoinsLiveWithoutGapOrDuplicate replays a history much larger
// than the connection's queue while messages keep arriving, and checks the
// seam between replay and live fan-out.
func TestReplayJoinsLiveWithoutGapOrDuplicate(t *testing.T) {
	b := &bus.Memory{HistorySize: 10000}
	_, url := newServer(t, &Handler{Broker: b, QueueSize: 8})
	ctx := testCtx(t)
	for i := range 1000 {
		_, err := b.Publish(ctx, "h", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
	}
	// Someone else keeps the topic's fan-out running meanwhile.
	other := connect(t, NewClient(url))
	live, err := other.Subscribe(ctx, "h", "")
	require.NoError(t, err)
	go func() {
		for range live.C() {
		}
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1000; i < 1500; i++ {
			if _, err := b.Publish(ctx, "h", bus.Message{Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				return
			}
		}
	}()
	c := connect(t, &Client{URL: url, Buffer: 1})
	s, err := c.Subscribe(ctx, "h", bus.Oldest)
	require.NoError(t, err)
	for i := range 1500 {
		m := recv(t, ctx, s)
		require.Equal(t, fmt.Sprint(i), string(m.Data))
	}
	<-done
}

// TestSubscribeBeyondTop: a cursor of the right epoch but beyond the top is
// refused with the top, whether or not the topic's fan-out already runs on
// the Handler, and never silently skips what is published next.
func TestSubscribeBeyondTop(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b}
	_, url := newServer(t, h)
	ctx := testCtx(t)
	first, err := b.Publish(ctx, "t", bus.Message{Data: []byte("1")})
	require.NoError(t, err)
	p, err := first.Position()
	require.NoError(t, err)
	beyond := bus.Position{Epoch: p.Epoch, Offset: p.Offset + 4}.ID()

	c := connect(t, NewClient(url))
	_, err = c.Subscribe(ctx, "t", beyond)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "no fan-out yet")
	top, _ := bus.TopOf(err)
	assert.Equal(t, first.ID, top)

	// With the topic's fan-out running for another subscriber.
	live, err := c.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	other := connect(t, NewClient(url))
	_, err = other.Subscribe(ctx, "t", beyond)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "fan-out running")
	top, _ = bus.TopOf(err)
	assert.Equal(t, first.ID, top)

	// A subscription from the top itself is fine and gets the next messages.
	fromTop, err := other.Subscribe(ctx, "t", first.ID)
	require.NoError(t, err)
	var want []string
	for i := 2; i <= 7; i++ {
		m, err := b.Publish(ctx, "t", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
		want = append(want, m.ID)
	}
	for _, sub := range []bus.Subscription{live, fromTop} {
		for _, id := range want {
			select {
			case m := <-sub.C():
				require.Equal(t, id, m.ID)
			case <-ctx.Done():
				t.Fatal("timed out")
			}
		}
	}
}

// TestResubscribeIgnoresEarlierSubscription closes a subscription while
// the server is still sending its messages and subscribes to the topic
// again from the oldest message: the frames of the closed subscription
// still in flight must not reach the new one.
func TestResubscribeIgnoresEarlierSubscription(t *testing.T) {
	h := &Handler{Broker: &bus.Memory{HistorySize: 1000}}
	_, url := newServer(t, h)
	ctx := testCtx(t)
	sub := connect(t, NewClient(url))
	const n = 500
	for round := range 5 {
		topic := fmt.Sprint("t", round)
		a, err := sub.Subscribe(ctx, topic, "")
		require.NoError(t, err)
		for i := range n {
			_, err := h.Broker.Publish(ctx, topic, bus.Message{Data: []byte(fmt.Sprint(i))})
			require.NoError(t, err)
		}
		recv(t, ctx, a) // the server is sending
		require.NoError(t, a.Close())
		again, err := sub.Subscribe(ctx, topic, bus.Oldest)
		require.NoError(t, err)
		for i := range n {
			require.Equal(t, fmt.Sprint(i), string(recv(t, ctx, again).Data), "round %d", round)
		}
		require.NoError(t, again.Close())
	}
}

// TestReplaysShareEncodings: connections replaying the same history and
// receiving the same live messages share one encoding of each.
func TestReplaysShareEncodings(t *testing.T) {
	b := &bus.Memory{}
	h := &Handler{Broker: b}
	_, url := newServer(t, h)
	ctx := testCtx(t)
	for i := range 100 {
		_, err := b.Publish(ctx, "h", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
	}
	subs := make([]bus.Subscription, 3)
	for i := range subs {
		c := connect(t, NewClient(url))
		s, err := c.Subscribe(ctx, "h", bus.Oldest)
		require.NoError(t, err)
		subs[i] = s
	}
	for i := 100; i < 110; i++ {
		_, err := b.Publish(ctx, "h", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
	}
	for _, s := range subs {
		for i := range 110 {
			require.Equal(t, fmt.Sprint(i), string(recv(t, ctx, s).Data))
		}
	}
	assert.EqualValues(t, 110, h.cache.Encodes(), "each message encoded once for three connections")
}
