package payments_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/payments"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo is a provider and a consumer, each on its own httptest server, the
// provider delivering to the consumer.
type demo struct {
	provider *payments.Provider
	consumer *payments.Consumer
	psrv     *httptest.Server
	csrv     *httptest.Server
	received bus.Subscription // the consumer's topic, from the start
	stop     func()           // stops the provider's Dispatcher; idempotent
}

func secret(t testing.TB) webhook.Secret {
	t.Helper()
	s, err := webhook.ParseSecret(payments.DemoSecret)
	require.NoError(t, err)
	return s
}

// start runs a consumer and a provider whose events come from b and st.
// Close b after the test yourself (register its cleanup before calling
// start).
func start(t testing.TB, b bus.Broker, st payments.Store, cursors webhook.CursorStore) *demo {
	t.Helper()
	cb := &bus.Memory{}
	c := payments.NewConsumer(cb, secret(t), nil)
	csrv := httptest.NewServer(c.Handler())
	p, err := payments.NewProvider(b, st, cursors, csrv.URL+"/webhooks", secret(t), nil)
	require.NoError(t, err)
	psrv := httptest.NewServer(p.Handler())
	sub, err := cb.Subscribe(t.Context(), payments.ReceivedTopic, bus.Oldest)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Dispatcher.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	t.Cleanup(func() {
		stop()
		_ = sub.Close()
		psrv.Close()
		_ = c.Shutdown(context.Background())
		csrv.Close()
		_ = cb.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return &demo{provider: p, consumer: c, psrv: psrv, csrv: csrv, received: sub, stop: stop}
}

// pay posts the provider's form and returns the status and the decoded
// answer (a Payment, or an error in Payment.Reason's place).
func (d *demo) pay(t testing.TB, customer string, o payments.Outcome) (int, payments.Payment) {
	t.Helper()
	resp, err := http.PostForm(d.psrv.URL+"/payments", url.Values{
		"customer": {customer}, "amount": {"12.50"}, "currency": {"EUR"}, "outcome": {string(o)},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	var p payments.Payment
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	return resp.StatusCode, p
}

// next returns the next message the consumer published: an accepted
// payment or a refusal. It fails the test if none comes before the test's
// deadline guard.
func (d *demo) next(t *testing.T) (bus.Message, payments.Payment) {
	t.Helper()
	select {
	case m, ok := <-d.received.C():
		require.True(t, ok, "subscription ended: %v", d.received.Err())
		var p payments.Payment
		if m.Type != payments.TypeRefused {
			require.NoError(t, json.Unmarshal(m.Data, &p))
		}
		return m, p
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("the consumer received nothing")
		return bus.Message{}, payments.Payment{}
	}
}

// history returns everything the consumer published so far.
func (d *demo) history(t *testing.T) []bus.Message {
	t.Helper()
	ms, err := d.consumer.Bus.Read(t.Context(), payments.ReceivedTopic, bus.Oldest, 100)
	require.NoError(t, err)
	return ms
}

func TestMemoryPaymentReachesConsumerOnce(t *testing.T) {
	b := &bus.Memory{}
	t.Cleanup(func() { _ = b.Close() })
	d := start(t, b, &payments.MemoryStore{Bus: b}, nil)

	code, p1 := d.pay(t, "Ada", payments.Succeed)
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, "pay_1", p1.ID)
	code, _ = d.pay(t, "Bob", payments.Crash)
	require.Equal(t, http.StatusConflict, code)
	code, p2 := d.pay(t, "Eve", payments.Decline)
	require.Equal(t, http.StatusCreated, code)

	m, got := d.next(t)
	assert.Equal(t, payments.TypeSucceeded, m.Type)
	assert.Equal(t, p1, got)
	assert.NotEmpty(t, m.Meta["webhook-id"], "the Receiver accepted a verified delivery")
	m, got = d.next(t)
	assert.Equal(t, payments.TypeFailed, m.Type)
	assert.Equal(t, p2, got)
	assert.Equal(t, "card_declined", got.Reason)

	// Delivery is ordered, so a duplicate of either, or the crashed
	// payment, would have come before p2's event: the consumer holds
	// exactly these two.
	assert.Len(t, d.history(t), 2)
	list, err := d.provider.Store.List(t.Context(), 10)
	require.NoError(t, err)
	assert.Len(t, list, 2, "the crashed payment was not stored")
}

func TestBadPaymentRefused(t *testing.T) {
	b := &bus.Memory{}
	t.Cleanup(func() { _ = b.Close() })
	d := start(t, b, &payments.MemoryStore{Bus: b}, nil)
	for _, form := range []url.Values{
		{"customer": {""}, "amount": {"1"}, "currency": {"EUR"}, "outcome": {"succeed"}},
		{"customer": {"Ada"}, "amount": {"-1"}, "currency": {"EUR"}, "outcome": {"succeed"}},
		{"customer": {"Ada"}, "amount": {"1"}, "currency": {"XXX"}, "outcome": {"succeed"}},
		{"customer": {"Ada"}, "amount": {"1"}, "currency": {"EUR"}, "outcome": {"maybe"}},
	} {
		resp, err := http.PostForm(d.psrv.URL+"/payments", form)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, form)
	}
	ms, err := b.Read(t.Context(), payments.Topic, bus.Oldest, 10)
	require.NoError(t, err)
	assert.Empty(t, ms)
}

// TestConsumerRefusesForgery posts to the consumer what an attacker could
// send: a delivery signed with another secret (401) and one without
// signature headers (400). Neither is handled; both are shown as refused.
// A genuine delivery sent twice is handled once.
func TestConsumerRefusesForgery(t *testing.T) {
	cb := &bus.Memory{}
	t.Cleanup(func() { _ = cb.Close() })
	c := payments.NewConsumer(cb, secret(t), nil)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	body, err := webhook.NewPayload(bus.Message{
		Type: payments.TypeSucceeded, Time: time.Now(),
		Data: []byte(`{"id":"pay_9","amount":100,"currency":"EUR","customer":"Mallory","status":"succeeded"}`),
	}).MarshalJSON()
	require.NoError(t, err)
	ep := &webhook.Endpoint{ID: "test", URL: srv.URL + "/webhooks"}
	sender := &webhook.Sender{AllowPrivateNetworks: true}
	t.Cleanup(sender.CloseIdleConnections)

	other, err := webhook.GenerateSecret()
	require.NoError(t, err)
	ep.Keys = webhook.Secrets(other)
	a := sender.Attempt(t.Context(), ep, webhook.Delivery{ID: "msg_forged", Body: body})
	assert.Equal(t, http.StatusUnauthorized, a.Status)

	resp, err := http.Post(srv.URL+"/webhooks", "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	http.DefaultClient.CloseIdleConnections()

	ep.Keys = webhook.Secrets(secret(t))
	for range 2 {
		a = sender.Attempt(t.Context(), ep, webhook.Delivery{ID: "msg_real", Body: body})
		assert.Equal(t, http.StatusOK, a.Status)
	}

	ms, err := cb.Read(t.Context(), payments.ReceivedTopic, bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	var types []string
	for _, m := range ms {
		types = append(types, m.Type)
	}
	assert.Equal(t, []string{payments.TypeRefused, payments.TypeRefused, payments.TypeSucceeded}, types)
	assert.Contains(t, string(ms[0].Data), `"status":401`)
	assert.Contains(t, string(ms[1].Data), `"status":400`)
	assert.Equal(t, "msg_real", ms[2].Meta["webhook-id"])
}

func TestProviderNeedsConsumerURL(t *testing.T) {
	b := &bus.Memory{}
	t.Cleanup(func() { _ = b.Close() })
	for _, u := range []string{"", "127.0.0.1:8091/webhooks", "ftp://host/x", "http:///webhooks", "http://[::1"} {
		_, err := payments.NewProvider(b, &payments.MemoryStore{Bus: b}, nil, u, secret(t), nil)
		assert.Error(t, err, u)
	}
}
