package pgbus_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/health"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPing(t *testing.T) {
	ctx := context.Background()
	url := pgURL(t)
	rec := &metricstest.Recorder{}
	b := newBroker(t, url, freshPrefix(t, url))
	b.Metrics = rec
	require.NoError(t, b.Ping(ctx))
	assert.Equal(t, 1, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "postgres", Op: "ping", Outcome: metrics.OutcomeOK}))

	// A server that is not there: the health check fails with 503.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	down, err := pgbus.New("postgres://test@" + addr + "/test?connect_timeout=2")
	require.NoError(t, err)
	defer down.Close()
	require.Error(t, down.Ping(ctx))
	h := &health.Handler{Checks: []health.Check{health.Broker("up", b), health.Broker("down", down)}}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	r := h.Run(ctx)
	assert.True(t, r.Checks[0].Ready)
	assert.False(t, r.Checks[1].Ready)
	assert.Contains(t, r.Checks[1].Error, "pgbus: ping")

	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Ping(ctx), bus.ErrClosed)
}
