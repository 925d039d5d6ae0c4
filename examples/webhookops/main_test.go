package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs the demo on an httptest server, without its publisher: the
// tests publish.
func start(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	a, err := newApp(t.Context(), base)
	require.NoError(t, err)
	srv.Config.Handler = a.routes(base)
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.dispatcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		srv.Close()
		assert.NoError(t, a.admin.Close())
		_ = a.bus.Close()
	})
	return a, srv
}

// get reads an admin API route with token.
func get(t *testing.T, srv *httptest.Server, path, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/admin"+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	if v != nil && res.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(res.Body).Decode(v))
	}
	return res.StatusCode
}

// deliveries returns the shop's deliveries by state.
func deliveries(t *testing.T, srv *httptest.Server, token string) map[string]int {
	t.Helper()
	var l admin.DeliveryList
	require.Equal(t, http.StatusOK, get(t, srv, "/endpoints/shop/deliveries", token, &l))
	n := map[string]int{}
	for _, d := range l.Deliveries {
		n[d.State]++
	}
	return n
}

// TestFlakyOrder delivers four orders and dead-letters the fifth, which
// the consumer refuses for flakyFor; once that is over, a retry through
// the admin API delivers it.
func TestFlakyOrder(t *testing.T) {
	a, srv := start(t)
	for range 5 {
		_, err := a.publish(t.Context())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		n := deliveries(t, srv, a.shopToken)
		return n[admin.StateDelivered] == 4 && n[admin.StateDead] == 1
	}, 10*time.Second, 10*time.Millisecond)

	var dls admin.DeadLetterList
	require.Equal(t, http.StatusOK, get(t, srv, "/endpoints/shop/deadletters", a.shopToken, &dls))
	require.Len(t, dls.DeadLetters, 1)
	dl := dls.DeadLetters[0]
	assert.Len(t, dl.Attempts, 3, "the first attempt and two retries")
	assert.Contains(t, dl.Error, "retries exhausted")

	// The consumer refuses it for flakyFor after its first attempt.
	first := dl.Attempts[0].At
	if wait := time.Until(first.Add(a.flakyFor)); wait > 0 {
		time.Sleep(wait)
	}
	req, err := http.NewRequest("POST", srv.URL+"/admin/endpoints/shop/deadletters/"+dl.Delivery+"/retry", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.shopToken)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	assert.Equal(t, map[string]int{admin.StateDelivered: 5}, deliveries(t, srv, a.shopToken))
}

// TestTokens checks the two tokens: the shop's reads its endpoint only,
// the operator's everything.
func TestTokens(t *testing.T) {
	a, srv := start(t)
	var list admin.EndpointList
	assert.Equal(t, http.StatusForbidden, get(t, srv, "/endpoints", a.shopToken, nil))
	assert.Equal(t, http.StatusOK, get(t, srv, "/endpoints", a.opsToken, &list))
	require.Len(t, list.Endpoints, 1)
	assert.Equal(t, "shop", list.Endpoints[0].ID)
	assert.NotContains(t, list.Endpoints[0].Secret, webhook.SecretPrefix)
	var ep admin.Endpoint
	assert.Equal(t, http.StatusOK, get(t, srv, "/endpoints/shop", a.shopToken, &ep))
	assert.Equal(t, "the shop's order hook", ep.Description)
	assert.Equal(t, http.StatusUnauthorized, get(t, srv, "/endpoints/shop", "guess", nil))

	// The home page links the portal with the shop's token.
	res, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.True(t, strings.Contains(string(body), "portal/#endpoint=shop&amp;token="+a.shopToken), "%s", body)
}

// TestReplayOperation replays the history as the README shows: with
// Prefer: respond-async the answer is 202 with the operation's Location,
// which tells its progress until it has succeeded.
func TestReplayOperation(t *testing.T) {
	a, srv := start(t)
	for range 3 {
		_, err := a.publish(t.Context())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return deliveries(t, srv, a.shopToken)[admin.StateDelivered] == 3
	}, 10*time.Second, 10*time.Millisecond)

	req, err := http.NewRequest("POST", srv.URL+"/admin/endpoints/shop/replay", strings.NewReader(`{"from":"0"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.opsToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	var op admin.Operation
	require.NoError(t, json.NewDecoder(res.Body).Decode(&op))
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	require.Equal(t, "operations/"+op.ID, res.Header.Get("Location"))
	loc := "/endpoints/shop/" + res.Header.Get("Location")
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest("GET", srv.URL+"/admin"+loc, nil)
		req.Header.Set("Authorization", "Bearer "+a.opsToken)
		res, err := srv.Client().Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&op) == nil && op.State != admin.OpRunning
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, admin.OpSucceeded, op.State, "%+v", op.Error)
	assert.Equal(t, 3, op.Delivered)
}
