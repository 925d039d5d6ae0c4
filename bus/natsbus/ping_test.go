package natsbus_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/pushpull/pushpull/health"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestPing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stream, prefix := freshStream(t)
	rec := &metricstest.Recorder{}
	b := &natsbus.Broker{Conn: connect(t), Stream: stream, Prefix: prefix, MemoryStorage: true, Metrics: rec}
	require.NoError(t, b.Ping(ctx))
	assert.Equal(t, 1, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "nats", Op: "ping", Outcome: metrics.OutcomeOK}))

	// A server that is not there: the health check fails with 503.
	nc, err := nats.Connect("nats://"+closedPort(t), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	require.NoError(t, err)
	defer nc.Close()
	down := &natsbus.Broker{Conn: nc}
	defer down.Close()
	require.Error(t, down.Ping(ctx))
	h := &health.Handler{Checks: []health.Check{health.Broker("up", b), health.Broker("down", down)}}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	r := h.Run(ctx)
	assert.True(t, r.Checks[0].Ready)
	assert.False(t, r.Checks[1].Ready)
	assert.Contains(t, r.Checks[1].Error, "not connected")

	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Ping(ctx), bus.ErrClosed)
}
