package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReceiverGitHubReplay replays one signed GitHub body with the delivery
// header kept, changed and dropped: GitHub signs only the body, so none of
// these may run the handler a second time.
func TestReceiverGitHubReplay(t *testing.T) {
	t.Parallel()
	secret := RawSecret("shh")
	body := []byte(`{"action":"opened","number":7}`)
	sig := SignGitHub(secret, body)
	req := func(delivery string, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		r.Header.Set(HeaderGitHubSignature, sig)
		if delivery != "" {
			r.Header.Set(HeaderGitHubDelivery, delivery)
		}
		return r
	}
	tests := []struct {
		name     string
		first    string // X-GitHub-Delivery of the genuine request
		replayed []string
	}{
		{"same header", "guid-1", []string{"guid-1"}},
		{"header changed", "guid-1", []string{"guid-2", "guid-3"}},
		{"header dropped", "guid-1", []string{""}},
		{"no header at all", "", []string{"", "guid-9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ids []string
			r := &Receiver{Keys: Secrets(secret), Scheme: GitHub,
				Handler: func(_ context.Context, e *Event) error { ids = append(ids, e.ID); return nil }}
			w := serve(r, req(tc.first, body))
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "ok\n", w.Body.String())
			for _, d := range tc.replayed {
				w := serve(r, req(d, body))
				assert.Equal(t, http.StatusOK, w.Code, d)
				assert.Equal(t, "duplicate\n", w.Body.String(), d)
			}
			assert.Equal(t, []string{tc.first}, ids, "handled once, ID is the genuine delivery's header")
		})
	}

	// Another body is another event, even under a delivery id seen before.
	var calls atomic.Int32
	r := &Receiver{Keys: Secrets(secret), Scheme: GitHub,
		Handler: func(context.Context, *Event) error { calls.Add(1); return nil }}
	other := []byte(`{"action":"closed","number":7}`)
	for _, b := range [][]byte{body, other} {
		q := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		q.Header.Set(HeaderGitHubSignature, SignGitHub(secret, b))
		q.Header.Set(HeaderGitHubDelivery, "guid-1")
		assert.Equal(t, "ok\n", serve(r, q).Body.String())
	}
	assert.Equal(t, int32(2), calls.Load())
}

// TestReceiverStripeReplay replays Stripe requests within the tolerance
// window: deduplicated on the signed body's "id", or on the body itself
// when it has no id.
func TestReceiverStripeReplay(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	secret := RawSecret("shh")
	tests := []struct {
		name string
		body string
		id   string
	}{
		{"with id", `{"id":"evt_1","type":"charge.succeeded"}`, "evt_1"},
		{"without id", `{"type":"charge.succeeded"}`, ""},
		{"id too long", `{"id":"` + strings.Repeat("x", MaxIDLen+1) + `"}`, ""},
		{"not JSON", `hello`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ids []string
			r := &Receiver{Keys: Secrets(secret), Scheme: Stripe, Clock: func() time.Time { return now },
				Handler: func(_ context.Context, e *Event) error { ids = append(ids, e.ID); return nil }}
			header := SignStripe(secret, now.Add(-time.Minute), []byte(tc.body))
			for i := range 3 {
				q := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
				q.Header.Set(HeaderStripeSignature, header)
				w := serve(r, q)
				assert.Equal(t, http.StatusOK, w.Code)
				if i > 0 {
					assert.Equal(t, "duplicate\n", w.Body.String())
				}
			}
			assert.Equal(t, []string{tc.id}, ids)
		})
	}
}
