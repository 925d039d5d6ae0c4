package webhook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedEndpoint answers the statuses of script in turn, then 200.
func scriptedEndpoint(t *testing.T, script ...int) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		code := http.StatusOK
		if len(script) > 0 {
			code, script = script[0], script[1:]
		}
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDispatcherMetrics(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	// Message 1: two failures open the circuit, the half-open attempt
	// succeeds. Message 2: three failures exhaust the schedule (dead
	// letter), reopening the circuit. Message 3: the half-open attempt
	// succeeds. Message 4: 410 Gone disables the endpoint.
	srv := scriptedEndpoint(t, 500, 500, 200, 500, 500, 500, 200, 410)
	rec := &metricstest.Recorder{}
	d := &Dispatcher{
		Broker:           b,
		Sender:           &Sender{AllowPrivateNetworks: true, Schedule: []time.Duration{time.Millisecond, time.Millisecond}},
		BreakerThreshold: 2,
		BreakerCooldown:  time.Millisecond,
		Metrics:          rec,
	}
	publish(t, b, "orders", 0, 4, func(int) string { return "order" })
	require.NoError(t, d.Add(Endpoint{ID: "ep", URL: srv.URL, Keys: Secrets(Secret("k")), Topic: "orders", From: bus.Oldest}))
	stop := runDispatcher(d)
	require.Eventually(t, func() bool {
		disabled, _ := d.Disabled("ep")
		return disabled && rec.Count(metrics.Lag, metrics.Event{}) == 3
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())

	attempts := func(outcome string) int {
		return rec.Count(metrics.WebhookAttempt, metrics.Event{Transport: "webhook", Topic: "orders", Outcome: outcome})
	}
	assert.Equal(t, 2, attempts(metrics.OutcomeOK))
	assert.Equal(t, 4, attempts(metrics.OutcomeRetry))
	assert.Equal(t, 1, attempts(metrics.OutcomeFailed))
	assert.Equal(t, 1, attempts(metrics.OutcomeGone))
	assert.Equal(t, 8, attempts(""))
	statuses := map[int]int{}
	for _, e := range rec.Events() {
		if e.Kind == metrics.WebhookAttempt {
			statuses[e.Status]++
			assert.Positive(t, e.Duration)
		}
	}
	assert.Equal(t, map[int]int{200: 2, 500: 5, 410: 1}, statuses)
	assert.Equal(t, 4, rec.Count(metrics.WebhookRetry, metrics.Event{Topic: "orders"}))
	assert.Equal(t, 1, rec.Count(metrics.WebhookDeadLetter, metrics.Event{Topic: "orders"}))
	assert.Equal(t, 1, rec.Count(metrics.WebhookDisabled, metrics.Event{Topic: "orders", Outcome: metrics.OutcomeGone}))

	// Breaker: closed→open (+1), half-open, closed (-1); open (+1),
	// half-open, open again; half-open, closed (-1).
	var states []string
	for _, e := range rec.Events() {
		if e.Kind == metrics.WebhookBreaker {
			states = append(states, e.Outcome)
		}
	}
	assert.Equal(t, []string{"open", "half-open", "closed", "open", "half-open", "open", "half-open", "closed"}, states)
	assert.Equal(t, int64(0), rec.Sum(metrics.WebhookBreaker, metrics.Event{}))
	assert.Equal(t, 2, rec.Count(metrics.WebhookBreaker, metrics.Event{Outcome: "closed"}))

	// Lag after messages 1, 2 (dead-lettered) and 3: 3, 2 and 1 behind.
	var lags []int64
	for _, e := range rec.Events() {
		if e.Kind == metrics.Lag {
			lags = append(lags, e.N)
		}
	}
	assert.Equal(t, []int64{3, 2, 1}, lags)
	assert.Zero(t, rec.Count(metrics.CursorStoreError, metrics.Event{}))
}

// flakyCursors fails its first Load and its first Save.
type flakyCursors struct {
	MemoryCursors
	mu                   sync.Mutex
	loadCalls, saveCalls int
}

var errStore = errors.New("store down")

func (f *flakyCursors) Load(ctx context.Context, key string) (string, error) {
	f.mu.Lock()
	f.loadCalls++
	fail := f.loadCalls == 1
	f.mu.Unlock()
	if fail {
		return "", errStore
	}
	return f.MemoryCursors.Load(ctx, key)
}

func (f *flakyCursors) Save(ctx context.Context, key, cursor string) error {
	f.mu.Lock()
	f.saveCalls++
	fail := f.saveCalls == 1
	f.mu.Unlock()
	if fail {
		return errStore
	}
	return f.MemoryCursors.Save(ctx, key, cursor)
}

func TestDispatcherMetricsCursorStoreErrors(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	rec := &metricstest.Recorder{}
	store := &flakyCursors{}
	d := &Dispatcher{Broker: b, Cursors: store, Metrics: rec}
	require.NoError(t, d.Add(Endpoint{ID: "ep", URL: scriptedEndpoint(t).URL, Keys: Secrets(Secret("k")), Topic: "t"}))
	stop := runDispatcher(d)
	require.Eventually(t, func() bool {
		st, _ := d.Status("ep")
		return st.Cursor != "" && st.Err == nil
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	assert.Equal(t, 1, rec.Count(metrics.CursorStoreError, metrics.Event{Transport: "webhook", Op: "load"}))
	assert.Equal(t, 1, rec.Count(metrics.CursorStoreError, metrics.Event{Transport: "webhook", Op: "save"}))
	assert.Len(t, rec.Events(), 2)
}

func TestReceiverMetrics(t *testing.T) {
	t.Parallel()
	keys := Secrets(Secret("right"))
	rec := &metricstest.Recorder{}
	srv := httptest.NewServer(&Receiver{Keys: keys, Handler: func(context.Context, *Event) error { return nil }, Metrics: rec})
	defer srv.Close()
	post := func(keys Keyring, id string, ts time.Time) int {
		body := []byte(`{"type":"x","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
		sig, err := Sign(keys, id, ts, body)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		require.NoError(t, err)
		for k, v := range swHeader(id, ts.Unix(), sig) {
			req.Header[k] = v
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	assert.Equal(t, http.StatusUnauthorized, post(Secrets(Secret("forged")), "msg_1", now))
	assert.Equal(t, http.StatusOK, post(keys, "msg_1", now))
	assert.Equal(t, http.StatusOK, post(keys, "msg_1", now))                         // replayed: acknowledged, not handled
	assert.Equal(t, http.StatusBadRequest, post(keys, "msg_2", now.Add(-time.Hour))) // outside the tolerance

	want := []metrics.Event{
		{Kind: metrics.Refused, Transport: "webhook", Status: http.StatusUnauthorized, Outcome: "signature"},
		{Kind: metrics.Refused, Transport: "webhook", Status: http.StatusOK, Outcome: "replay"},
		{Kind: metrics.Refused, Transport: "webhook", Status: http.StatusBadRequest, Outcome: "replay"},
	}
	assert.Equal(t, want, rec.Events())
}

func TestSenderMetrics(t *testing.T) {
	t.Parallel()
	srv := scriptedEndpoint(t, 503, 500, 200)
	rec := &metricstest.Recorder{}
	s := &Sender{AllowPrivateNetworks: true, Schedule: []time.Duration{time.Millisecond, time.Millisecond}, Metrics: rec}
	defer s.CloseIdleConnections()
	ep := &Endpoint{ID: "ep", URL: srv.URL, Keys: Secrets(Secret("k")), Topic: "orders"}
	_, err := s.Send(context.Background(), ep, Delivery{ID: "msg_1", Body: []byte(`{}`)})
	require.NoError(t, err)
	var got []string
	for _, e := range rec.Events() {
		got = append(got, e.Kind.String()+" "+e.Outcome+" "+strconv.Itoa(e.Status))
	}
	assert.Equal(t, []string{"WebhookAttempt retry 503", "WebhookRetry  0", "WebhookAttempt retry 500", "WebhookRetry  0", "WebhookAttempt ok 200"}, got)

	// Exhausted: the last attempt failed.
	rec.Reset()
	srv = scriptedEndpoint(t, 500, 500, 500)
	ep.URL = srv.URL
	_, err = s.Send(context.Background(), ep, Delivery{ID: "msg_2", Body: []byte(`{}`)})
	require.ErrorIs(t, err, ErrExhausted)
	assert.Equal(t, 2, rec.Count(metrics.WebhookAttempt, metrics.Event{Outcome: metrics.OutcomeRetry}))
	assert.Equal(t, 1, rec.Count(metrics.WebhookAttempt, metrics.Event{Outcome: metrics.OutcomeFailed}))
	assert.Equal(t, 2, rec.Count(metrics.WebhookRetry, metrics.Event{Topic: "orders"}))
}
