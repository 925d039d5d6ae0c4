package longpoll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inProcess serves h over an in-memory pipe network for the test, so a
// synctest bubble can hold both ends.
func inProcess(t *testing.T, h http.Handler) *http.Client {
	t.Helper()
	return testnet.Serve(t, &http.Server{Handler: h})
}

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	sub, err := longpoll.NewClient(srv.URL).Subscribe(ctx, "rt", "")
	require.NoError(t, err)
	want := []bus.Message{
		{Type: "a", Data: []byte("text ✓"), Meta: map[string]string{"x": "1"}},
		{Data: []byte{0, 0xff, 0x80}},
	}
	for i := range want {
		want[i], err = b.Publish(ctx, "rt", want[i])
		require.NoError(t, err)
	}
	got := pollwiretest.Receive(t, sub, 2, 10*time.Second)
	for i := range want {
		assert.Equal(t, want[i].ID, got[i].ID)
		assert.Equal(t, want[i].Type, got[i].Type)
		assert.Equal(t, want[i].Data, got[i].Data)
		assert.True(t, want[i].Time.Equal(got[i].Time))
	}
	assert.Equal(t, want[0].Meta, got[0].Meta)
	require.NoError(t, sub.Close())
	assert.NoError(t, sub.Err())
	// Closing ended the held request: nothing stays held.
	waitUntil(t, func() bool { return h.Held() == 0 })
	require.NoError(t, h.Shutdown(ctx))
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 1}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c")
	srv := httptest.NewServer(&longpoll.Handler{Broker: b})
	t.Cleanup(srv.Close)
	c := longpoll.NewClient(srv.URL)
	_, err := c.Subscribe(context.Background(), "news", msgs[0].ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	top, _ := bus.TopOf(err)
	assert.Equal(t, msgs[2].ID, top)
	_, err = c.Subscribe(context.Background(), "news", "not-a-cursor!")
	assert.ErrorIs(t, err, bus.ErrInvalidCursor)
}

// The client asks again at once after each answer: with a message every
// minute and a 25 s server timeout, every message is delivered the moment
// it is published.
func TestClientReRequestsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		sub, err := (&longpoll.Client{URL: "http://lp.test/", HTTPClient: inProcess(t, h)}).Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		defer sub.Close()
		for i := range 5 {
			time.Sleep(time.Minute)
			pollwiretest.Publish(t, b, "news", fmt.Sprint(i))
			begin := time.Now()
			m := pollwiretest.Receive(t, sub, 1, time.Hour)[0]
			assert.Equal(t, fmt.Sprint(i), string(m.Data))
			assert.Zero(t, time.Since(begin))
		}
	})
}

// Two messages published in the same millisecond are both delivered.
func TestClientSameMillisecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &longpoll.Handler{Broker: b}
		sub, err := (&longpoll.Client{URL: "http://lp.test/", HTTPClient: inProcess(t, h)}).Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		defer sub.Close()
		synctest.Wait() // the client's request is held
		pollwiretest.CheckSameInstant(t, b, "news", sub, 2)
	})
}

// limited answers 503 with Retry-After to requests 1 and 2.
type limited struct {
	h     http.Handler
	mu    sync.Mutex
	times []time.Time
}

func (l *limited) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	n := len(l.times)
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
	if n == 1 || n == 2 {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	l.h.ServeHTTP(w, r)
}

func TestClientHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		l := &limited{h: &longpoll.Handler{Broker: b}}
		sub, err := (&longpoll.Client{URL: "http://lp.test/", HTTPClient: inProcess(t, l)}).Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		defer sub.Close()
		pollwiretest.Publish(t, b, "news", "x")
		m := pollwiretest.Receive(t, sub, 1, time.Hour)[0]
		assert.Equal(t, "x", string(m.Data))
		l.mu.Lock()
		defer l.mu.Unlock()
		require.GreaterOrEqual(t, len(l.times), 4)
		assert.Zero(t, l.times[1].Sub(l.times[0]), "asks again at once")
		assert.GreaterOrEqual(t, l.times[2].Sub(l.times[1]), 20*time.Second)
		assert.GreaterOrEqual(t, l.times[3].Sub(l.times[2]), 20*time.Second)
		assert.Less(t, l.times[3].Sub(l.times[2]), 23*time.Second)
	})
}

// No gap and no duplicate across 10,000 messages while a fifth of the
// requests, held or not, are cut before or in the middle of their answer.
func TestClientNoGapNoDuplicateUnderCuts(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 2 * pollwiretest.CutMessages}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b, Limit: 50}
	cut := &testnet.Cutter{Handler: h, Rate: 0.2, Seed: 7}
	srv := httptest.NewServer(cut)
	t.Cleanup(srv.Close)
	c := &longpoll.Client{URL: srv.URL, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	pollwiretest.CheckNoGapUnderCuts(t, b, c.Subscribe, cut.Cuts,
		pollwiretest.Pace{Every: 20, Pause: 200 * time.Microsecond}) // let requests be held between bursts
	waitUntil(t, func() bool { return h.Held() == 0 })
}

// A server that answers at once with nothing cannot make the client spin.
func TestClientDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		l := &limited{h: &longpoll.Handler{Broker: b, Timeout: time.Millisecond}}
		c := &longpoll.Client{URL: "http://lp.test/", HTTPClient: inProcess(t, l), MinBackoff: time.Second}
		sub, err := c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		time.Sleep(50 * time.Second) // requests 1 and 2 get 503 + 20 s
		require.NoError(t, sub.Close())
		l.mu.Lock()
		defer l.mu.Unlock()
		assert.Less(t, len(l.times), 20, "about one request per second after the 503s")
		assert.Greater(t, len(l.times), 5)
	})
}
