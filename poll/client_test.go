package poll_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(&poll.Handler{Broker: b, Interval: time.Millisecond})
	t.Cleanup(srv.Close)
	ctx := context.Background()

	sent := []bus.Message{
		{Type: "text", Data: []byte("héllo \"world\"\n\u2028<>&"), Meta: map[string]string{"k": "v", "ü": "\x00"}},
		{Data: []byte{0xff, 0x00, 0xfe, 'a'}},
		{Type: "\xffbinary-type", Data: nil, Meta: map[string]string{"\xfe": "\xfd"}},
		{Data: []byte{}},
	}
	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond}
	sub, err := c.Subscribe(ctx, "rt", "")
	require.NoError(t, err)
	defer sub.Close()
	var want []bus.Message
	for _, m := range sent {
		pm, err := b.Publish(ctx, "rt", m)
		require.NoError(t, err)
		want = append(want, pm)
	}
	got := pollwiretest.Receive(t, sub, len(want), 10*time.Second)
	for i := range want {
		assert.Equal(t, want[i].ID, got[i].ID)
		assert.Equal(t, "rt", got[i].Topic)
		assert.Equal(t, want[i].Type, got[i].Type)
		assert.Equal(t, string(want[i].Data), string(got[i].Data), "data of %d", i)
		assert.True(t, want[i].Time.Equal(got[i].Time), "time of %d", i)
		if len(want[i].Meta) > 0 {
			assert.Equal(t, want[i].Meta, got[i].Meta)
		} else {
			assert.Empty(t, got[i].Meta)
		}
	}
	require.NoError(t, sub.Close())
	_, open := <-sub.C()
	assert.False(t, open)
	assert.NoError(t, sub.Err())
}

func TestClientTopicInPath(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	mux := http.NewServeMux()
	mux.Handle("GET /poll/{topic}", &poll.Handler{Broker: b})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pollwiretest.Publish(t, b, "a/b:c", "x", "y")
	sub, err := poll.NewClient(srv.URL+"/poll/{topic}").Subscribe(context.Background(), "a/b:c", bus.Oldest)
	require.NoError(t, err)
	defer sub.Close()
	got := pollwiretest.Receive(t, sub, 2, 10*time.Second)
	assert.Equal(t, "y", string(got[1].Data))
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 2}
	t.Cleanup(func() { b.Close() })
	msgs := pollwiretest.Publish(t, b, "news", "a", "b", "c", "d")
	h := &poll.Handler{Broker: b, Authorize: func(_ *http.Request, topic string) error {
		if topic == "secret" {
			return errors.New("denied")
		}
		return nil
	}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := poll.NewClient(srv.URL)
	ctx := context.Background()

	_, err := c.Subscribe(ctx, "news", msgs[0].ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	top, ok := bus.TopOf(err)
	assert.True(t, ok)
	assert.Equal(t, msgs[3].ID, top)
	var se *poll.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusGone, se.StatusCode)

	_, err = c.Subscribe(ctx, "secret", "")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	assert.Equal(t, "forbidden", se.Code)

	_, err = c.Subscribe(ctx, "news", "bad cursor")
	assert.ErrorIs(t, err, bus.ErrInvalidCursor)
	_, err = c.Subscribe(ctx, "bad topic", "")
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
}

// The subscription ends with bus.ErrCursorExpired when its position leaves
// the history while it waits.
func TestClientExpiresWhileSubscribed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{HistorySize: 2}
		defer b.Close()
		h := &poll.Handler{Broker: b, Interval: time.Second}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: h}), Interval: time.Second}
		sub, err := c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		defer sub.Close()
		pollwiretest.Publish(t, b, "news", "a", "b", "c", "d")
		_, open := <-sub.C()
		assert.False(t, open)
		assert.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)
		_, ok := bus.TopOf(sub.Err())
		assert.True(t, ok)
	})
}

// recorder counts requests and notes when each arrived.
type recorder struct {
	h     http.Handler
	mu    sync.Mutex
	times []time.Time
	codes []int
	fail  func(n int, w http.ResponseWriter) bool // answer request n itself
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	n := len(rc.times)
	rc.times = append(rc.times, time.Now())
	rc.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, code: 200}
	if rc.fail == nil || !rc.fail(n, sw) {
		rc.h.ServeHTTP(sw, r)
	}
	rc.mu.Lock()
	rc.codes = append(rc.codes, sw.code)
	rc.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (rc *recorder) gaps() []time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var d []time.Duration
	for i := 1; i < len(rc.times); i++ {
		d = append(d, rc.times[i].Sub(rc.times[i-1]))
	}
	return d
}

func TestClientHonoursPollInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		rc := &recorder{h: &poll.Handler{Broker: b, Interval: 7 * time.Second}}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: rc}), Interval: time.Second}
		sub, err := c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		time.Sleep(60 * time.Second)
		require.NoError(t, sub.Close())
		gaps := rc.gaps()
		require.GreaterOrEqual(t, len(gaps), 5)
		for _, g := range gaps {
			assert.GreaterOrEqual(t, g, 7*time.Second)
			assert.Less(t, g, 7*time.Second*6/5+time.Millisecond, "jitter is at most a fifth")
		}
		// After the first poll, nothing new: every later answer is a 304.
		rc.mu.Lock()
		defer rc.mu.Unlock()
		assert.Equal(t, 200, rc.codes[0])
		for _, code := range rc.codes[1:] {
			assert.Equal(t, http.StatusNotModified, code)
		}
	})
}

func TestClientHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		rc := &recorder{h: &poll.Handler{Broker: b, Interval: time.Second}}
		rc.fail = func(n int, w http.ResponseWriter) bool {
			switch n {
			case 1, 2:
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			case 3:
				w.WriteHeader(http.StatusBadGateway) // no advice: backoff
				return true
			}
			return false
		}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: rc}),
			Interval: time.Second, MinBackoff: 100 * time.Millisecond}
		sub, err := c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		pollwiretest.Publish(t, b, "news", "late")
		m := pollwiretest.Receive(t, sub, 1, time.Hour)
		assert.Equal(t, "late", string(m[0].Data))
		require.NoError(t, sub.Close())
		gaps := rc.gaps()
		require.GreaterOrEqual(t, len(gaps), 4)
		assert.GreaterOrEqual(t, gaps[1], 30*time.Second)
		assert.GreaterOrEqual(t, gaps[2], 30*time.Second)
		assert.Less(t, gaps[3], time.Second, "a 502 without Retry-After backs off exponentially from MinBackoff")
	})
}

// Two messages published in the same millisecond are both delivered.
func TestClientSameMillisecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &poll.Handler{Broker: b, Interval: time.Second}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: h}), Interval: time.Second}
		sub, err := c.Subscribe(t.Context(), "news", "")
		require.NoError(t, err)
		defer sub.Close()
		pollwiretest.CheckSameInstant(t, b, "news", sub, 3)
	})
}
