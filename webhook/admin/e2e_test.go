package admin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

// consumer is the receiving side: a Receiver that can be made to fail,
// recording the webhook-ids it handled and the last request's headers.
type consumer struct {
	srv     *httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	handled []string
	header  http.Header
	body    []byte
}

func newConsumer(t *testing.T, secret string) *consumer {
	t.Helper()
	s, err := webhook.ParseSecret(secret)
	require.NoError(t, err)
	c := &consumer{}
	rcv := &webhook.Receiver{Keys: webhook.Secrets(s), Handler: func(_ context.Context, e *webhook.Event) error {
		if c.failing.Load() {
			return errors.New("consumer down")
		}
		c.mu.Lock()
		c.handled = append(c.handled, e.ID)
		c.mu.Unlock()
		return nil
	}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.header, c.body = r.Header.Clone(), body
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rcv.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *consumer) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.handled...)
}

func (c *consumer) last() (http.Header, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header, c.body
}

// system is a bus, a store, a running Dispatcher and the admin API.
type system struct {
	*api
	bus  *bus.Memory
	d    *webhook.Dispatcher
	stop func()
}

func newSystem(t *testing.T) *system {
	t.Helper()
	b := &bus.Memory{}
	d := &webhook.Dispatcher{
		Broker:           b,
		Sender:           &webhook.Sender{AllowPrivateNetworks: true, Timeout: 5 * time.Second, Schedule: []time.Duration{time.Millisecond}, Jitter: -1},
		RegistryPoll:     20 * time.Millisecond,
		BreakerThreshold: 1000,
	}
	s := &system{bus: b, d: d}
	s.api = newAPI(t, d)
	d.Store = s.store
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	s.stop = func() {
		cancel()
		assert.NoError(t, <-done)
		b.Close()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *system) publish(t *testing.T, typ string) bus.Message {
	t.Helper()
	m, err := s.bus.Publish(t.Context(), "orders", bus.Message{Type: typ, Data: []byte(`{"n":1}`)})
	require.NoError(t, err)
	return m
}

func (s *system) deliveries(t *testing.T, token string) []admin.DeliverySummary {
	t.Helper()
	r := s.do("GET", "/endpoints/ep1/deliveries", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var l admin.DeliveryList
	r.decode(t, &l)
	return l.Deliveries
}

func (s *system) deadLetters(t *testing.T) []webhook.DeadLetter {
	t.Helper()
	r := s.do("GET", "/endpoints/ep1/deadletters", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var l admin.DeadLetterList
	r.decode(t, &l)
	return l.DeadLetters
}

// eventually waits for cond, failing the test after 10 s.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

// TestOperate runs the API over a real Dispatcher delivering to a real
// Receiver: an endpoint created through the API is delivered to; its
// attempts, deliveries and status show it; a failure dead-letters; retry
// fails while the consumer is down (502) and delivers once it is up;
// recover and replay redeliver with the original webhook-ids; rotation
// signs with both secrets; disable holds delivery until enable; delete
// stops it.
func TestOperate(t *testing.T) {
	s := newSystem(t)
	r := s.do("POST", "/endpoints", tokOperator, map[string]any{"id": "ep1", "url": "http://placeholder.invalid/", "topic": "orders", "from": bus.Oldest})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	ep := r.endpoint(t)
	c := newConsumer(t, ep.Secret)
	r = s.do("PATCH", "/endpoints/ep1", tokEP1, map[string]any{"url": c.srv.URL + "/hook"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	m1, m2 := s.publish(t, "order.paid"), s.publish(t, "order.shipped")
	eventually(t, func() bool { return len(c.ids()) == 2 }, "two deliveries")
	assert.Equal(t, []string{webhook.MessageID(m1), webhook.MessageID(m2)}, c.ids())

	// The attempt is recorded once its answer is in.
	var al admin.AttemptList
	eventually(t, func() bool {
		r = s.do("GET", "/endpoints/ep1/attempts", tokEP1, nil)
		require.Equal(t, http.StatusOK, r.status)
		r.decode(t, &al)
		return len(al.Attempts) == 2
	}, "two attempts")
	assert.True(t, al.Attempts[0].OK())
	assert.Equal(t, m1.ID, al.Attempts[0].Message)
	assert.Equal(t, "order.paid", al.Attempts[0].Type)
	assert.Contains(t, string(r.body), `"latency":"`, "durations are readable")
	ds := s.deliveries(t, tokEP1)
	require.Len(t, ds, 2)
	assert.Equal(t, webhook.MessageID(m2), ds[0].ID, "newest first")
	assert.Equal(t, admin.StateDelivered, ds[0].State)

	r = s.do("GET", "/endpoints/ep1/status", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status)
	var st admin.Status
	r.decode(t, &st)
	assert.True(t, st.Running)
	assert.Equal(t, "ep1", st.Endpoint.ID)
	assert.Empty(t, st.Error)

	// A failure: two attempts, then a dead letter.
	c.failing.Store(true)
	failedAt := time.Now()
	m3 := s.publish(t, "order.paid")
	eventually(t, func() bool { return len(s.deadLetters(t)) == 1 }, "a dead letter")
	dl := s.deadLetters(t)[0]
	assert.Equal(t, webhook.MessageID(m3), dl.Delivery)
	assert.Equal(t, m3.ID, dl.Message.ID)
	ds = s.deliveries(t, tokEP1)
	assert.Equal(t, admin.StateDead, ds[0].State)
	assert.Equal(t, 2, ds[0].Attempts)
	assert.Equal(t, http.StatusInternalServerError, ds[0].Last.Status)
	r = s.do("GET", "/endpoints/ep1/attempts?failed=true", tokEP1, nil)
	r.decode(t, &al)
	assert.Len(t, al.Attempts, 2)
	r = s.do("GET", "/endpoints/ep1/status", tokEP1, nil)
	r.decode(t, &st)
	assert.Equal(t, 1, st.DeadLetters)

	// Retry while the consumer is still down: 502, still dead.
	retry := "/endpoints/ep1/deadletters/" + dl.Delivery + "/retry"
	r = s.do("POST", retry, tokEP1, nil)
	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	assert.Equal(t, "delivery_failed", r.errCode(t))
	assert.Len(t, s.deadLetters(t), 1)

	// Up again: retry delivers it with its original webhook-id.
	c.failing.Store(false)
	r = s.do("POST", retry, tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"delivered":true}`, string(r.body))
	assert.Empty(t, s.deadLetters(t))
	assert.Equal(t, webhook.MessageID(m3), c.ids()[2])
	ds = s.deliveries(t, tokEP1)
	assert.Equal(t, admin.StateDelivered, ds[0].State, "%+v", ds)
	r = s.do("POST", retry, tokEP1, nil)
	assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

	// Recover everything that failed since a time, in order.
	c.failing.Store(true)
	m4, m5 := s.publish(t, "order.paid"), s.publish(t, "order.paid")
	eventually(t, func() bool { return len(s.deadLetters(t)) == 2 }, "two dead letters")
	c.failing.Store(false)
	r = s.do("POST", "/endpoints/ep1/recover", tokEP1, map[string]any{"since": failedAt})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"recovered":2}`, string(r.body))
	assert.Empty(t, s.deadLetters(t))
	assert.Equal(t, []string{webhook.MessageID(m4), webhook.MessageID(m5)}, c.ids()[3:5])

	// Replay a range of the history: the Receiver has them already and
	// answers 200 without handling them again.
	r = s.do("POST", "/endpoints/ep1/replay", tokEP1, map[string]any{"from": bus.Oldest, "to": m2.ID})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"replayed":2}`, string(r.body))
	assert.Len(t, c.ids(), 5)
	r = s.do("POST", "/endpoints/ep1/replay", tokEP1, map[string]any{"from": "nonsense"})
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)

	// Rotate: deliveries carry a signature per valid secret, so the
	// consumer can switch to the new one.
	r = s.do("POST", "/endpoints/ep1/rotate", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	newSecret, err := webhook.ParseSecret(r.endpoint(t).Secret)
	require.NoError(t, err)
	m6 := s.publish(t, "order.paid")
	eventually(t, func() bool { return len(c.ids()) == 6 }, "delivery after rotation")
	assert.Equal(t, webhook.MessageID(m6), c.ids()[5])
	h, body := c.last()
	assert.Len(t, strings.Fields(h.Get(webhook.HeaderSignature)), 2, "signed with the new and the old secret")
	assert.NoError(t, webhook.Verify(webhook.Secrets(newSecret), h, body, time.Now(), time.Minute))

	// Disable holds delivery; enable resumes from the cursor.
	require.Equal(t, http.StatusOK, s.do("POST", "/endpoints/ep1/disable", tokEP1, nil).status)
	eventually(t, func() bool {
		r := s.do("GET", "/endpoints/ep1/status", tokEP1, nil)
		var st admin.Status
		r.decode(t, &st)
		return !st.Running && st.Endpoint.Disabled
	}, "stopped")
	m7 := s.publish(t, "order.paid")
	require.Equal(t, http.StatusOK, s.do("POST", "/endpoints/ep1/enable", tokEP1, nil).status)
	eventually(t, func() bool { return len(c.ids()) == 7 }, "delivery after enable")
	assert.Equal(t, webhook.MessageID(m7), c.ids()[6])

	// Delete stops it.
	require.Equal(t, http.StatusNoContent, s.do("DELETE", "/endpoints/ep1", tokEP1, nil).status)
	_, err = s.d.Status("ep1")
	assert.ErrorIs(t, err, webhook.ErrUnknownEndpoint, "stopped at once")
	assert.Equal(t, http.StatusNotFound, s.do("GET", "/endpoints/ep1/status", tokEP1, nil).status)
}
