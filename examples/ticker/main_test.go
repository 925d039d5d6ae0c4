package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer serves a fresh app advising a short reconnection delay.
func newServer(t *testing.T) (*app, *bus.Memory, *httptest.Server) {
	t.Helper()
	b := &bus.Memory{}
	a := newApp(b, 20*time.Millisecond)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		_ = a.sse.Shutdown(context.Background())
		srv.Close()
		_ = b.Close()
	})
	return a, b, srv
}

// next reads the next tick of sub.
func next(t *testing.T, sub bus.Subscription) Tick {
	t.Helper()
	m, ok := <-sub.C()
	require.True(t, ok, "subscription ended: %v", sub.Err())
	var tk Tick
	require.NoError(t, json.Unmarshal(m.Data, &tk))
	return tk
}

// TestDropResumes reads the stream with the SSE client from the second
// tick, has the server cut it, publishes while it is away, and gets every
// tick once and in order: the client resumed with Last-Event-ID.
func TestDropResumes(t *testing.T) {
	a, b, srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mk := newMarket(1)
	var second string
	for i := range 3 {
		require.NoError(t, mk.publish(ctx, b))
		if i == 1 {
			top, err := b.Top(ctx, topic)
			require.NoError(t, err)
			second = top
		}
	}
	sub, err := sse.NewClient(srv.URL+"/events").Subscribe(ctx, topic, second)
	require.NoError(t, err)
	defer sub.Close()
	assert.Equal(t, 3, next(t, sub).Seq)

	res, err := http.Post(srv.URL+"/drop", "", nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	for range 5 {
		require.NoError(t, mk.publish(ctx, b))
	}
	for want := 4; want <= 8; want++ {
		tk := next(t, sub)
		require.Equal(t, want, tk.Seq)
		require.Len(t, tk.Quotes, 6)
	}
	// The first request carried the cursor too; the reconnection is the
	// second.
	assert.GreaterOrEqual(t, a.resumed.Load(), int64(2))
}

// TestMarketMoves: each tick numbers on, keeps six positive prices and
// reports the change from the previous one.
func TestMarketMoves(t *testing.T) {
	m := newMarket(5)
	prev := m.next(time.Now())
	for i := range 2000 {
		tk := m.next(time.Now())
		require.Equal(t, i+2, tk.Seq)
		for j, q := range tk.Quotes {
			assert.Greater(t, q.Price, 0.0)
			assert.InDelta(t, q.Price-prev.Quotes[j].Price, q.Change, 0.011)
		}
		prev = tk
	}
}
