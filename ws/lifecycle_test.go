package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientConnectLifecycle: a Client is built with NewClient and fields,
// does nothing before Connect, connects once, and Close works at every
// stage.
func TestClientConnectLifecycle(t *testing.T) {
	_, url := newServer(t, &Handler{})
	ctx := testCtx(t)

	t.Run("calls before Connect", func(t *testing.T) {
		c := NewClient(url)
		_, err := c.Subscribe(ctx, "t", "")
		assert.ErrorIs(t, err, ErrNotConnected)
		_, err = c.Publish(ctx, "t", bus.Message{})
		assert.ErrorIs(t, err, ErrNotConnected)
		require.NoError(t, c.Close())
		assert.ErrorIs(t, c.Connect(ctx), bus.ErrClosed, "Connect after Close")
		_, err = c.Subscribe(ctx, "t", "")
		assert.ErrorIs(t, err, bus.ErrClosed)
	})
	t.Run("connect once", func(t *testing.T) {
		c := NewClient(url)
		require.NoError(t, c.Connect(ctx))
		assert.Error(t, c.Connect(ctx), "a second Connect")
		s, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		m, err := c.Publish(ctx, "t", bus.Message{Data: []byte("x")})
		require.NoError(t, err)
		assert.Equal(t, m.ID, recv(t, ctx, s).ID)
		require.NoError(t, c.Close())
		require.NoError(t, c.Close())
		assert.ErrorIs(t, c.Connect(ctx), bus.ErrClosed)
	})
	t.Run("connect again after a failure", func(t *testing.T) {
		h := &Handler{Broker: &bus.Memory{}}
		defer h.Broker.Close()
		var refuse atomic.Bool
		refuse.Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		defer h.Shutdown(context.Background())
		c := NewClient(srv.URL)
		var se *StatusError
		require.ErrorAs(t, c.Connect(ctx), &se)
		assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
		_, err := c.Subscribe(ctx, "t", "")
		assert.ErrorIs(t, err, ErrNotConnected)
		refuse.Store(false)
		require.NoError(t, c.Connect(ctx))
		_, err = c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		require.NoError(t, c.Close())
	})
	t.Run("Close ends a Connect that is retrying", func(t *testing.T) {
		u, gate, _ := gatedServer(t, &Handler{})
		gate.Store(true)
		c := &Client{URL: u, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
		res := make(chan error, 1)
		go func() { res <- c.Connect(ctx) }()
		waitUntil(t, ctx, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.connecting })
		require.NoError(t, c.Close())
		assert.Error(t, <-res)
		assert.ErrorIs(t, c.Connect(ctx), bus.ErrClosed)
	})
}

// recordHandler keeps the messages of the records it handles.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recordHandler) WithGroup(string) slog.Handler      { return r }

func (r *recordHandler) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// failingBroker fails every Publish with an error that is no bus sentinel:
// the Handler answers "internal" and logs it.
type failingBroker struct{ bus.Broker }

func (failingBroker) Publish(context.Context, string, bus.Message) (bus.Message, error) {
	return bus.Message{}, errors.New("disk on fire")
}

// TestNilLoggerIsSilent: with nil Loggers neither the Handler nor the
// Client writes to slog.Default(); with Loggers set, the same events are
// logged there.
func TestNilLoggerIsSilent(t *testing.T) {
	run := func(t *testing.T, logger *slog.Logger) {
		mem := &bus.Memory{}
		defer mem.Close()
		h := &Handler{Broker: failingBroker{mem}, Logger: logger}
		var refusals int
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			refusals++
			refuse := refusals <= 2
			mu.Unlock()
			if refuse {
				http.Error(w, "not yet", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		defer h.Shutdown(context.Background())
		ctx := testCtx(t)
		c := &Client{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), MinBackoff: time.Millisecond, Logger: logger}
		require.NoError(t, c.Connect(ctx)) // retried twice
		defer c.Close()
		_, err := c.Publish(ctx, "t", bus.Message{})
		assert.ErrorIs(t, err, ErrInternal)
	}
	def := &recordHandler{}
	old := slog.Default()
	slog.SetDefault(slog.New(def))
	defer slog.SetDefault(old)

	run(t, nil)
	assert.Empty(t, def.messages(), "nil Loggers log nothing")

	own := &recordHandler{}
	run(t, slog.New(own))
	assert.Contains(t, own.messages(), "ws: dial failed, retrying")
	assert.Contains(t, own.messages(), "ws: request failed")
	assert.Empty(t, def.messages())
}
