package admin_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

// TestEndpointLifecycle creates, reads, lists, replaces, patches, rotates,
// disables, enables and deletes an endpoint, with the versions each step
// expects.
func TestEndpointLifecycle(t *testing.T) {
	a := newAPI(t, nil)

	// Create: the secret is answered once.
	r := a.do("POST", "/endpoints", tokOperator, map[string]any{
		"id": "ep1", "url": "https://shop.example/hooks", "topic": "orders", "types": []string{"order.*"},
		"headers": map[string]string{"X-Tenant": "7"}, "description": "the shop",
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, `"1"`, r.header.Get("ETag"))
	assert.Equal(t, "endpoints/ep1", r.header.Get("Location"))
	ep := r.endpoint(t)
	assert.Equal(t, int64(1), ep.Version)
	assert.Equal(t, []string{"order.*"}, ep.Types)
	require.True(t, strings.HasPrefix(ep.Secret, webhook.SecretPrefix), "secret %q", ep.Secret)
	require.Len(t, ep.Secrets, 1)
	assert.Len(t, ep.Secrets[0].Fingerprint, 16)
	first := ep.Secret
	stored, err := a.store.GetEndpoint(t.Context(), "ep1")
	require.NoError(t, err)
	assert.Equal(t, first, stored.Secrets[0].Secret, "the answered secret is the stored one")

	// Read: no secret.
	r = a.do("GET", "/endpoints/ep1", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), first)
	assert.NotContains(t, string(r.body), `"secret"`)
	ep = r.endpoint(t)
	assert.Equal(t, "the shop", ep.Description)
	assert.Equal(t, http.StatusNotModified, a.do("GET", "/endpoints/ep1", tokEP1, nil, "If-None-Match", `"1"`).status)

	a.create("ep2", "https://other.example/hooks")
	r = a.do("GET", "/endpoints", tokReader, nil)
	require.Equal(t, http.StatusOK, r.status)
	var list admin.EndpointList
	r.decode(t, &list)
	require.Len(t, list.Endpoints, 2)
	assert.Equal(t, "ep1", list.Endpoints[0].ID)
	assert.NotContains(t, string(r.body), first)

	// Replace: If-Match guards it; secrets are kept.
	put := map[string]any{"url": "https://shop.example/v2", "topic": "orders"}
	r = a.do("PUT", "/endpoints/ep1", tokEP1, put, "If-Match", `"7"`)
	assert.Equal(t, http.StatusPreconditionFailed, r.status)
	assert.Equal(t, "precondition_failed", r.errCode(t))
	r = a.do("PUT", "/endpoints/ep1", tokEP1, map[string]any{"url": "https://shop.example/v2", "topic": "orders", "version": 9})
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "conflict", r.errCode(t))
	r = a.do("PUT", "/endpoints/ep1", tokEP1, put, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.Equal(t, int64(2), ep.Version)
	assert.Equal(t, "https://shop.example/v2", ep.URL)
	assert.Empty(t, ep.Types, "PUT replaces")
	assert.Empty(t, ep.Secret)
	stored, err = a.store.GetEndpoint(t.Context(), "ep1")
	require.NoError(t, err)
	assert.Equal(t, first, stored.Secrets[0].Secret)

	// Patch: the fields present.
	r = a.do("PATCH", "/endpoints/ep1", tokEP1, map[string]any{"rate_limit": 5, "max_concurrent": 2, "version": 2})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.Equal(t, int64(3), ep.Version)
	assert.Equal(t, 5.0, ep.RateLimit)
	assert.Equal(t, 2, ep.MaxConcurrent)
	assert.Equal(t, "https://shop.example/v2", ep.URL)
	assert.Equal(t, http.StatusConflict, a.do("PATCH", "/endpoints/ep1", tokEP1, map[string]any{"burst": 3, "version": 2}).status)

	// Rotate: a new secret first, the old one valid for a day.
	before := time.Now()
	r = a.do("POST", "/endpoints/ep1/rotate", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	require.NotEmpty(t, ep.Secret)
	assert.NotEqual(t, first, ep.Secret)
	assert.NotContains(t, string(r.body), first, "the old secret is not shown")
	require.Len(t, ep.Secrets, 2)
	assert.True(t, ep.Secrets[0].NotAfter.IsZero())
	assert.WithinDuration(t, before.Add(admin.DefaultRotateGrace), ep.Secrets[1].NotAfter, time.Minute)
	stored, err = a.store.GetEndpoint(t.Context(), "ep1")
	require.NoError(t, err)
	assert.Equal(t, []string{ep.Secret, first}, []string{stored.Secrets[0].Secret, stored.Secrets[1].Secret})
	// A given secret and expiry.
	notAfter := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = a.do("POST", "/endpoints/ep1/rotate", tokEP1, map[string]any{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not_after": notAfter})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ep.Secret)
	require.Len(t, ep.Secrets, 3)
	assert.True(t, ep.Secrets[1].NotAfter.Equal(notAfter), "the previous secret expires at not_after")
	assert.True(t, ep.Secrets[2].NotAfter.Equal(notAfter), "an older one too, since not_after is sooner")

	// Disable, enable.
	r = a.do("POST", "/endpoints/ep1/disable", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.True(t, ep.Disabled)
	r = a.do("POST", "/endpoints/ep1/enable", tokEP1, map[string]any{"version": ep.Version})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.False(t, ep.Disabled)

	// Delete.
	assert.Equal(t, http.StatusPreconditionFailed, a.do("DELETE", "/endpoints/ep1", tokEP1, nil, "If-Match", `"1"`).status)
	r = a.do("DELETE", "/endpoints/ep1", tokEP1, nil, "If-Match", strconv.Quote(strconv.FormatInt(ep.Version, 10)))
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = a.do("GET", "/endpoints/ep1", tokEP1, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "not_found", r.errCode(t))
	assert.Equal(t, http.StatusNotFound, a.do("DELETE", "/endpoints/ep1", tokEP1, nil).status)
}

// TestCreateGenerates creates an endpoint without an ID or secret: both
// are generated; the secret, given, is kept.
func TestCreateGenerates(t *testing.T) {
	a := newAPI(t, nil)
	r := a.do("POST", "/endpoints", tokOperator, map[string]any{"url": "https://a.example/", "topic": "orders"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	ep := r.endpoint(t)
	assert.True(t, strings.HasPrefix(ep.ID, "ep_"), ep.ID)
	assert.Equal(t, "endpoints/"+ep.ID, r.header.Get("Location"))
	_, err := webhook.ParseSecret(ep.Secret)
	require.NoError(t, err)

	r = a.do("POST", "/endpoints", tokOperator, map[string]any{"id": "own", "url": "https://a.example/", "topic": "orders",
		"secrets": []map[string]any{{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	ep = r.endpoint(t)
	assert.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ep.Secret)

	// A second create of the same ID conflicts.
	r = a.do("POST", "/endpoints", tokOperator, map[string]any{"id": "own", "url": "https://a.example/", "topic": "orders"})
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "conflict", r.errCode(t))

	// Only an operator may create without an ID; an endpoint's token may
	// create its own.
	assert.Equal(t, http.StatusForbidden, a.do("POST", "/endpoints", tokEP1, map[string]any{"url": "https://a.example/", "topic": "orders"}).status)
	assert.Equal(t, http.StatusForbidden, a.do("POST", "/endpoints", tokEP1, map[string]any{"id": "ep2", "url": "https://a.example/", "topic": "orders"}).status)
	assert.Equal(t, http.StatusCreated, a.do("POST", "/endpoints", tokEP1, map[string]any{"id": "ep1", "url": "https://a.example/", "topic": "orders"}).status)
}

// TestDeliveriesPaging reads deliveries over an attempt log longer than a
// store page, with attempts sharing an instant across page boundaries:
// each delivery is counted once with all its attempts, newest first, and
// its state follows its latest attempt and the dead letters.
func TestDeliveriesPaging(t *testing.T) {
	a := newAPI(t, nil)
	a.create("ep1", "https://shop.example/hooks")
	ctx := t.Context()
	start := time.Now().Add(-time.Hour)
	const n = 1500
	for i := range n {
		at := start.Add(time.Duration(i) * time.Millisecond)
		id := "msg_" + strconv.Itoa(i)
		require.NoError(t, a.store.AddAttempt(ctx, webhook.Attempt{Delivery: id, Endpoint: "ep1", N: 1, At: at, Status: 503, Error: "down"}))
		second := webhook.Attempt{Delivery: id, Endpoint: "ep1", N: 2, At: at, Status: 200} // the same instant
		if i%100 == 0 {
			second.Status, second.Error = 500, "down"
		}
		require.NoError(t, a.store.AddAttempt(ctx, second))
	}
	require.NoError(t, a.store.AddDeadLetter(ctx, webhook.DeadLetter{Endpoint: "ep1", Delivery: "msg_1400", At: start.Add(2 * time.Second)}))

	r := a.do("GET", "/endpoints/ep1/deliveries?limit=1000", tokEP1, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var l admin.DeliveryList
	r.decode(t, &l)
	require.Len(t, l.Deliveries, 1000)
	for k, d := range l.Deliveries {
		i := n - 1 - k
		require.Equal(t, "msg_"+strconv.Itoa(i), d.ID, "newest first")
		require.Equal(t, 2, d.Attempts, d.ID)
		want := admin.StateDelivered
		switch {
		case i == 1400:
			want = admin.StateDead
		case i%100 == 0:
			want = admin.StateFailing
		}
		require.Equal(t, want, d.State, d.ID)
	}
	r = a.do("GET", "/endpoints/ep1/deliveries?since="+start.Add(1490*time.Millisecond).UTC().Format(time.RFC3339Nano), tokEP1, nil)
	r.decode(t, &l)
	assert.Len(t, l.Deliveries, 10)
}

// GET /endpoints pages by ID: limit endpoints after "after", with "next"
// while more follow; walking the pages sees each endpoint once, in order;
// a bad limit or after, or an unknown parameter, is 400.
func TestEndpointsPaging(t *testing.T) {
	a := newAPI(t, nil)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("ep%02d", i)
		a.create(id, "https://a.example/hooks")
		want = append(want, id)
	}
	var got []string
	after, pages := "", 0
	for {
		r := a.do("GET", "/endpoints?limit=3&after="+after, tokReader, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var list admin.EndpointList
		r.decode(t, &list)
		pages++
		for _, ep := range list.Endpoints {
			got = append(got, ep.ID)
		}
		if list.Next == "" {
			break
		}
		assert.Len(t, list.Endpoints, 3)
		assert.Equal(t, list.Endpoints[2].ID, list.Next)
		after = list.Next
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages, "3 + 3 + 1")

	// A page that ends exactly at the last endpoint has no next.
	r := a.do("GET", "/endpoints?limit=7", tokReader, nil)
	var list admin.EndpointList
	r.decode(t, &list)
	assert.Len(t, list.Endpoints, 7)
	assert.Empty(t, list.Next)
	// after need not be an existing ID; after the last one, nothing.
	r = a.do("GET", "/endpoints?after=ep03x", tokReader, nil)
	list = admin.EndpointList{}
	r.decode(t, &list)
	require.Len(t, list.Endpoints, 3)
	assert.Equal(t, "ep04", list.Endpoints[0].ID)
	r = a.do("GET", "/endpoints?after=ep06", tokReader, nil)
	list = admin.EndpointList{}
	r.decode(t, &list)
	assert.Empty(t, list.Endpoints)
	assert.Contains(t, string(r.body), `"endpoints":[]`)

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=a%2Fb", "page=2"} {
		r := a.do("GET", "/endpoints?"+q, tokReader, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", q, r.body)
		assert.Equal(t, "invalid", r.errCode(t), q)
	}
}
