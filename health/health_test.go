package health_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/health"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probe GETs the handler through a real server and decodes the report.
func probe(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// check returns the named check of a decoded report.
func check(t *testing.T, body map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range body["checks"].([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("no check %q in %v", name, body)
	return nil
}

func TestBrokerCheck(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	h := &health.Handler{Checks: []health.Check{health.Broker("bus", b)}}
	code, body := probe(t, h)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", body["status"])
	assert.Equal(t, true, check(t, body, "bus")["ready"])

	require.NoError(t, b.Close())
	code, body = probe(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready", body["status"])
	c := check(t, body, "bus")
	assert.Equal(t, false, c["ready"])
	assert.Equal(t, bus.ErrClosed.Error(), c["error"])
}

// noPing is a broker without Ping.
type noPing struct{ bus.Broker }

func TestBrokerWithoutPing(t *testing.T) {
	t.Parallel()
	r := (&health.Handler{Checks: []health.Check{health.Broker("bus", noPing{})}}).Run(context.Background())
	assert.True(t, r.Ready())
	assert.Equal(t, "no ping", r.Checks[0].Detail)
}

func TestTimeoutAndMethods(t *testing.T) {
	t.Parallel()
	h := &health.Handler{Timeout: 10 * time.Millisecond, Checks: []health.Check{
		{Name: "slow", Run: func(ctx context.Context) (any, error) { <-ctx.Done(); return nil, ctx.Err() }},
		{Name: "fine", Run: func(context.Context) (any, error) { return map[string]int{"n": 1}, nil }},
	}}
	code, body := probe(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, false, check(t, body, "slow")["ready"])
	assert.NotEmpty(t, check(t, body, "slow")["error"])
	assert.Equal(t, map[string]any{"n": float64(1)}, check(t, body, "fine")["detail"])

	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	req, _ := http.NewRequest(http.MethodHead, srv.URL, nil)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Empty(t, b)

	assert.True(t, (&health.Handler{}).Run(context.Background()).Ready(), "no check: ready")
}

func TestWebhooksCheck(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer up.Close()
	keys := webhook.Secrets(webhook.Secret("k"))
	d := &webhook.Dispatcher{Broker: b, Sender: &webhook.Sender{AllowPrivateNetworks: true, Schedule: []time.Duration{time.Hour}}}
	require.NoError(t, d.Add(webhook.Endpoint{ID: "up", URL: up.URL, Keys: keys, Topic: "t"}))
	require.NoError(t, d.Add(webhook.Endpoint{ID: "down", URL: down.URL, Keys: keys, Topic: "t"}))
	w := &health.Webhooks{Dispatcher: d, StallAfter: time.Hour}
	h := &health.Handler{Checks: []health.Check{health.Broker("bus", b), {Name: "webhooks", Run: w.Run}}}

	// Not running yet.
	code, body := probe(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "2 endpoints not running", check(t, body, "webhooks")["error"])

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool {
		for _, st := range d.Statuses() {
			if st.Cursor == "" || !st.Running {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
	_, err := b.Publish(ctx, "t", bus.Message{Data: []byte("{}")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { st, _ := d.Status("down"); return st.Err != nil }, 10*time.Second, time.Millisecond)

	// Failing, not stalled yet: ready, with the failure in the detail.
	code, body = probe(t, h)
	assert.Equal(t, http.StatusOK, code)
	c := check(t, body, "webhooks")
	detail := c["detail"].(map[string]any)
	assert.Equal(t, float64(2), detail["endpoints"])
	assert.Equal(t, float64(2), detail["running"])
	assert.Equal(t, float64(0), detail["stalled"])
	failing := detail["failing"].([]any)
	require.Len(t, failing, 1)
	assert.Equal(t, "down", failing[0].(map[string]any)["id"])
	assert.Equal(t, false, failing[0].(map[string]any)["stalled"])

	// Stalled: not ready, unless tolerated.
	w.StallAfter = time.Nanosecond
	code, body = probe(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	c = check(t, body, "webhooks")
	assert.Equal(t, "1 endpoints stalled", c["error"])
	assert.Equal(t, true, check(t, body, "bus")["ready"])
	w.MaxStalled = 1
	code, _ = probe(t, h)
	assert.Equal(t, http.StatusOK, code)
}
