package webhook_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttemptJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 0, 0, 123456789, time.UTC)
	a := webhook.Attempt{
		Delivery: "msg_1", Endpoint: "shop", Message: "1-0", Type: "order.paid", N: 2, At: at,
		Status: 503, Latency: 1500 * time.Microsecond, Error: "webhook: server answered 503",
		Response: []byte("down"), Next: 5 * time.Second,
	}
	b, err := json.Marshal(a)
	require.NoError(t, err)
	assert.JSONEq(t, `{"delivery":"msg_1","endpoint":"shop","message":"1-0","type":"order.paid","n":2,
		"at":"2026-12-03T07:00:00.123456789Z","ok":false,"status":503,"latency":"1.5ms","latency_ms":1.5,
		"error":"webhook: server answered 503","response":"down","next":"5s","next_ms":5000}`, string(b))
	var back webhook.Attempt
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, a, back)

	bin := webhook.Attempt{Delivery: "d", Endpoint: "e", N: 1, At: at, Status: 200, Latency: time.Second, Response: []byte{0xff, 0}}
	b, err = json.Marshal(bin)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"response_base64":"/wA="`)
	assert.Contains(t, string(b), `"ok":true`)
	assert.NotContains(t, string(b), `"next"`, "no next attempt")
	back = webhook.Attempt{}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, bin.Response, back.Response)
	assert.True(t, back.OK(), "OK survives the round trip")

	// Milliseconds alone are read when the duration string is absent.
	require.NoError(t, json.Unmarshal([]byte(`{"delivery":"d","endpoint":"e","latency_ms":2.5}`), &back))
	assert.Equal(t, 2500*time.Microsecond, back.Latency)
	assert.Error(t, json.Unmarshal([]byte(`{"latency":"soon"}`), &back), "bad duration")
	assert.Error(t, json.Unmarshal([]byte(`{"at":"yesterday"}`), &back), "bad time")
}

func TestDeadLetterJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	dl := webhook.DeadLetter{
		Endpoint: "shop", Delivery: "msg_1", Error: "webhook: retries exhausted", At: at,
		Message:  bus.Message{Topic: "orders", ID: "1-0", Type: "order.paid", Time: at, Data: []byte(`{"n":1}`), Meta: map[string]string{"k": "v"}},
		Attempts: []webhook.Attempt{{Delivery: "msg_1", Endpoint: "shop", N: 1, At: at, Status: 500, Error: "x", Latency: time.Millisecond}},
	}
	b, err := json.Marshal(dl)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"data":"{\"n\":1}"`, "UTF-8 data as text")
	var back webhook.DeadLetter
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, dl, back)

	dl.Message.Data = []byte{0xff}
	dl.Attempts = nil
	b, err = json.Marshal(dl)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"data_base64":"/w=="`)
	assert.Contains(t, string(b), `"attempts":[]`)
	back = webhook.DeadLetter{}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, dl, back)
}

func TestDeliveryLogJSON(t *testing.T) {
	l := webhook.DeliveryLog{ID: "msg_1", Endpoint: "shop", MessageID: "1-0", Type: "t", State: webhook.Delivered}
	b, err := json.Marshal(l)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"msg_1","endpoint":"shop","message":"1-0","type":"t","state":"delivered","attempts":[]}`, string(b))
	var back webhook.DeliveryLog
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, l, back)
}

func TestEndpointConfigJSON(t *testing.T) {
	in := `{"id":"shop","url":"https://example.com/h","topic":"orders","types":["order.*"],
		"secrets":[{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","not_after":"2027-01-01T00:00:00Z"}],
		"headers":{"X-Tenant":"eu"},"rate_limit":2.5,"burst":3,"max_concurrent":2,"version":4,
		"created":"2026-12-01T00:00:00Z","updated":"2026-12-02T00:00:00Z"}`
	var c webhook.EndpointConfig
	require.NoError(t, json.Unmarshal([]byte(in), &c))
	assert.Equal(t, 2.5, c.RateLimit)
	assert.Equal(t, int64(4), c.Version)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(b))

	ep, err := c.Endpoint()
	require.NoError(t, err)
	assert.Equal(t, "shop", ep.ID)
	require.Len(t, ep.Keys, 1)
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ep.Keys[0].NotAfter)
	assert.Equal(t, "eu", ep.Header.Get("X-Tenant"))
}

func TestEndpointConfigValidate(t *testing.T) {
	ok := webhook.EndpointConfig{ID: "a", URL: "http://x/", Topic: "t", Secrets: []webhook.SecretConfig{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
	require.NoError(t, ok.Validate())
	key, err := webhook.GenerateSigningKey()
	require.NoError(t, err)
	ed := ok
	ed.Secrets = []webhook.SecretConfig{{Secret: webhook.EncodeSigningKey(key)}}
	require.NoError(t, ed.Validate(), "an Ed25519 signing key")
	for name, c := range map[string]webhook.EndpointConfig{
		"long ID": func() webhook.EndpointConfig { c := ok; c.ID = strings.Repeat("a", 201); return c }(),
		"raw secret": func() webhook.EndpointConfig {
			c := ok
			c.Secrets = []webhook.SecretConfig{{Secret: "hunter2"}}
			return c
		}(),
		"empty secret": func() webhook.EndpointConfig {
			c := ok
			c.Secrets = []webhook.SecretConfig{{Secret: "whsec_"}}
			return c
		}(),
		"empty type":    func() webhook.EndpointConfig { c := ok; c.Types = []string{""}; return c }(),
		"NaN rate":      func() webhook.EndpointConfig { c := ok; c.RateLimit = nan(); return c }(),
		"bad header":    func() webhook.EndpointConfig { c := ok; c.Headers = map[string]string{"X Y": "1"}; return c }(),
		"content-type":  func() webhook.EndpointConfig { c := ok; c.Headers = map[string]string{"content-type": "x"}; return c }(),
		"neg burst":     func() webhook.EndpointConfig { c := ok; c.Burst = -1; return c }(),
		"neg version":   func() webhook.EndpointConfig { c := ok; c.Version = -1; return c }(),
		"URL with host": func() webhook.EndpointConfig { c := ok; c.URL = "http:///x"; return c }(),
	} {
		err := c.Validate()
		assert.ErrorIs(t, err, webhook.ErrInvalidEndpoint, name)
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestEndpointStatusJSON(t *testing.T) {
	since := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	b, err := json.Marshal(webhook.EndpointStatus{ID: "shop", Topic: "orders", Running: true, Cursor: "1-0", Version: 2,
		Err: errors.New("boom"), Since: since})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"shop","topic":"orders","running":true,"disabled":false,"leased":false,"version":2,
		"cursor":"1-0","error":"boom","since":"2026-12-03T07:00:00Z"}`, string(b))
	b, err = json.Marshal(webhook.EndpointStatus{ID: "shop"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"shop","topic":"","running":false,"disabled":false,"leased":false,"cursor":""}`, string(b))
}

// FuzzOpsJSON feeds arbitrary JSON to the readers of the operating types:
// they never panic, what they accept writes back to a form that reads
// again to the same value, and a configuration either validates or is
// refused with ErrInvalidEndpoint.
func FuzzOpsJSON(f *testing.F) {
	f.Add([]byte(`{"delivery":"d","endpoint":"e","n":1,"at":"2026-12-03T07:00:00Z","latency":"1.5ms","response_base64":"/w=="}`))
	f.Add([]byte(`{"endpoint":"e","delivery":"d","message":{"topic":"t","id":"1-0","data":"x","meta":{"a":"b"}},"attempts":[{"latency_ms":2}]}`))
	f.Add([]byte(`{"id":"a","url":"http://x/","topic":"t","secrets":[{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}],"headers":{"X-A":"1"},"rate_limit":1e300}`))
	f.Add([]byte(`{"next":"-5s","latency":"9999999999999h"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a webhook.Attempt
		if json.Unmarshal(data, &a) == nil {
			roundTrip(t, a, func(b []byte) (any, error) { var x webhook.Attempt; err := json.Unmarshal(b, &x); return x, err })
		}
		var dl webhook.DeadLetter
		if json.Unmarshal(data, &dl) == nil {
			roundTrip(t, dl, func(b []byte) (any, error) { var x webhook.DeadLetter; err := json.Unmarshal(b, &x); return x, err })
		}
		var c webhook.EndpointConfig
		if json.Unmarshal(data, &c) == nil {
			if err := c.Validate(); err != nil && !errors.Is(err, webhook.ErrInvalidEndpoint) {
				t.Fatalf("Validate: %v does not wrap ErrInvalidEndpoint", err)
			}
		}
	})
}

// roundTrip checks that v's JSON reads back to a value with the same JSON.
func roundTrip(t *testing.T, v any, read func([]byte) (any, error)) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	back, err := read(b)
	if err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	b2, err := json.Marshal(back)
	if err != nil || string(b) != string(b2) {
		t.Fatalf("round trip changed\n%s\n%s (%v)", b, b2, err)
	}
}

// Stores kept attempts in the form of earlier versions, which had no
// MarshalJSON: Go field names, nanoseconds, base64 responses.
func TestAttemptJSONEarlierForm(t *testing.T) {
	type earlier struct {
		Delivery, Endpoint string
		N                  int
		At                 time.Time
		Status             int
		Latency            time.Duration
		Error              string
		Response           []byte
		Next               time.Duration
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b, err := json.Marshal([]earlier{
		{Delivery: "d", Endpoint: "e", N: 2, At: at, Status: 503, Latency: 1500 * time.Microsecond, Error: "x", Response: []byte{0xff, 'a'}, Next: time.Minute},
		{Delivery: "d", Endpoint: "e", N: 3, At: at, Status: 200, Latency: time.Millisecond, Response: []byte("ok")},
	})
	require.NoError(t, err)
	var got []webhook.Attempt
	require.NoError(t, json.Unmarshal(b, &got))
	require.Len(t, got, 2)
	assert.Equal(t, webhook.Attempt{Delivery: "d", Endpoint: "e", N: 2, At: at, Status: 503, Latency: 1500 * time.Microsecond,
		Error: "x", Response: []byte{0xff, 'a'}, Next: time.Minute}, got[0])
	assert.Equal(t, []byte("ok"), got[1].Response)
	assert.Equal(t, time.Millisecond, got[1].Latency)
	assert.True(t, got[1].OK())
}
