package auto_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/auto/autotest"
	"github.com/pushpull/pushpull/bus"
)

// rig is a Handler behind an autotest.Proxy, and a Client with short probes
// talking to it through the proxy.
type rig struct {
	b      *bus.Memory
	h      *auto.Handler
	proxy  *autotest.Proxy
	client *auto.Client
	n      int // messages published so far
}

func newRig(t testing.TB, faults autotest.Fault, history int) *rig {
	t.Helper()
	b := &bus.Memory{HistorySize: history}
	h := &auto.Handler{Broker: b, Prefix: "/rt", PollInterval: 20 * time.Millisecond, LongPollTimeout: 2 * time.Second, Heartbeat: time.Second}
	srv := httptest.NewServer(h)
	proxy := autotest.New(srv.URL)
	proxy.SetFaults(faults)
	tr := &http.Transport{}
	t.Cleanup(func() {
		proxy.Close()
		_ = h.Shutdown(context.Background())
		srv.Close()
		b.Close()
		tr.CloseIdleConnections()
	})
	c := &auto.Client{
		URL:             proxy.URL() + "/rt",
		HTTPClient:      &http.Client{Transport: tr},
		ConnectTimeout:  time.Second,
		ProbeInterval:   300 * time.Millisecond,
		ProbeTimeout:    700 * time.Millisecond,
		UpgradeInterval: 500 * time.Millisecond,
		PollInterval:    20 * time.Millisecond,
	}
	return &rig{b: b, h: h, proxy: proxy, client: c}
}

func (r *rig) publish(t testing.TB, n int) {
	t.Helper()
	for range n {
		r.n++
		_, err := r.b.Publish(context.Background(), "t", bus.Message{Data: []byte(strconv.Itoa(r.n))})
		require.NoError(t, err)
	}
}

// read reads messages up to number to and checks that each is the next.
func read(t *testing.T, ctx context.Context, sub bus.Subscription, got *int, to int) {
	t.Helper()
	for *got < to {
		select {
		case m, ok := <-sub.C():
			require.True(t, ok, "subscription ended after %d messages: %v", *got, sub.Err())
			*got++
			require.Equal(t, strconv.Itoa(*got), string(m.Data), "message %d", *got)
		case <-ctx.Done():
			t.Fatalf("after %d messages, on %s: %v", *got, sub.(*auto.Subscription).Transport(), ctx.Err())
		}
	}
}

// waitTransport waits until sub runs on transport name.
func waitTransport(t *testing.T, ctx context.Context, sub *auto.Subscription, name string) {
	t.Helper()
	for sub.Transport() != name {
		select {
		case <-ctx.Done():
			t.Fatalf("still on %q, waiting for %q", sub.Transport(), name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The Go client receives 1,000 messages once and in order through each
// hostile proxy, on the transport expected, and returns to WebSocket once
// the proxy behaves.
func TestFallbackScenarios(t *testing.T) {
	tests := []struct {
		name       string
		faults     autotest.Fault
		transports []string
		expect     string
		stream     func(t *testing.T, ctx context.Context, r *rig, sub bus.Subscription, got *int)
	}{
		{name: "refused upgrade", faults: autotest.RefuseWebSocket, expect: auto.SSE},
		{name: "silent upgrade", faults: autotest.MuteWebSocket, expect: auto.SSE},
		{name: "buffered SSE", faults: autotest.RefuseWebSocket | autotest.BufferSSE, expect: auto.LongPoll},
		{name: "polling last", faults: autotest.RefuseWebSocket | autotest.BufferSSE, transports: []string{auto.WebSocket, auto.SSE, auto.Poll}, expect: auto.Poll},
		{name: "cuts", expect: auto.WebSocket, stream: func(t *testing.T, ctx context.Context, r *rig, sub bus.Subscription, got *int) {
			for i := 1; i <= 5; i++ {
				r.publish(t, 100)
				r.proxy.CutAll()
				r.publish(t, 100)
				read(t, ctx, sub, got, 200*i)
			}
		}},
		{name: "blocked after 300", expect: auto.SSE, stream: func(t *testing.T, ctx context.Context, r *rig, sub bus.Subscription, got *int) {
			r.publish(t, 300)
			read(t, ctx, sub, got, 300)
			r.proxy.SetFaults(autotest.MuteWebSocket)
			r.publish(t, 700)
			read(t, ctx, sub, got, 1000)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.faults, 10000)
			r.client.Transports = tt.transports
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := r.client.Subscribe(ctx, "t", "")
			require.NoError(t, err)
			defer s.Close()
			sub := s.(*auto.Subscription)
			got := 0
			if tt.stream != nil {
				tt.stream(t, ctx, r, s, &got)
			} else {
				r.publish(t, 1000)
				read(t, ctx, s, &got, 1000)
			}
			if tt.name != "cuts" {
				assert.Equal(t, tt.expect, sub.Transport())
			}
			// The proxy behaves again: back to the best transport, and
			// the stream goes on there.
			r.proxy.SetFaults(0)
			want := auto.WebSocket
			if tt.transports != nil {
				want = tt.transports[0]
			}
			waitTransport(t, ctx, sub, want)
			r.publish(t, 10)
			read(t, ctx, s, &got, 1010)
			select {
			case m := <-s.C():
				t.Fatalf("extra message %s", m.Data)
			default:
			}
		})
	}
}

// A cursor the server cannot serve is reported the same way over every
// transport: a *bus.CursorError with the top.
func TestResetEveryTransport(t *testing.T) {
	for _, name := range auto.DefaultTransports() {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, 0, 5)
			b := r.b
			first, err := b.Publish(context.Background(), "t", bus.Message{})
			require.NoError(t, err)
			var top bus.Message
			for range 10 {
				top, err = b.Publish(context.Background(), "t", bus.Message{})
				require.NoError(t, err)
			}
			r.client.Transports = []string{name}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sub, err := r.client.Subscribe(ctx, "t", first.ID)
			if err == nil {
				// SSE answers a stale cursor with a reset event.
				for range sub.C() {
					t.Fatal("message after a stale cursor")
				}
				err = sub.Err()
			}
			require.ErrorIs(t, err, bus.ErrCursorExpired)
			got, ok := bus.TopOf(err)
			require.True(t, ok, "no top in %v", err)
			assert.Equal(t, top.ID, got)
		})
	}
}

func TestSubscribeRefused(t *testing.T) {
	srv := newServer(t, &auto.Handler{Authorize: authorize})
	c := auto.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, "secret", "")
	var se *auto.StatusError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	_, err = c.Subscribe(ctx, "a b", "")
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	_, err = c.Subscribe(ctx, "a", "nonsense")
	assert.ErrorIs(t, err, bus.ErrInvalidCursor)
	_, err = c.Publish(ctx, "readonly", bus.Message{})
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
	_, err = c.Publish(ctx, "a", bus.Message{Type: "a\nb"})
	assert.ErrorIs(t, err, bus.ErrInvalidMessage)
	m, err := c.Publish(ctx, "a", bus.Message{Data: []byte{0, 1, 0xff}})
	require.NoError(t, err)
	assert.NotEmpty(t, m.ID)
}

// A subscription whose authorization is revoked ends with the 403, on
// whichever transport it was.
func TestRevoked(t *testing.T) {
	var denied atomic.Bool
	r := newRig(t, 0, 100)
	r.h.Authorize = func(_ *http.Request, _ auto.Action, _ string) error {
		if denied.Load() {
			return errDenied
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := r.client.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	defer sub.Close()
	denied.Store(true)
	r.proxy.CutAll()
	for range sub.C() {
	}
	var se *auto.StatusError
	require.True(t, errors.As(sub.Err(), &se), "%v", sub.Err())
	assert.Equal(t, http.StatusForbidden, se.StatusCode)
}
