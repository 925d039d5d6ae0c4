package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routes are every route of the API on endpoint ep1, with a body that
// would be accepted, and whether it reads (Subscribe) or writes (Publish).
var routes = []struct {
	method, path string
	body         any
	write        bool
}{
	{"GET", "/endpoints/ep1", nil, false},
	{"PUT", "/endpoints/ep1", map[string]any{"url": "https://a.example/", "topic": "orders"}, true},
	{"PATCH", "/endpoints/ep1", map[string]any{"description": "x"}, true},
	{"DELETE", "/endpoints/ep1", nil, true},
	{"POST", "/endpoints/ep1/rotate", nil, true},
	{"POST", "/endpoints/ep1/disable", nil, true},
	{"POST", "/endpoints/ep1/enable", nil, true},
	{"GET", "/endpoints/ep1/status", nil, false},
	{"GET", "/endpoints/ep1/attempts", nil, false},
	{"GET", "/endpoints/ep1/deliveries", nil, false},
	{"GET", "/endpoints/ep1/deadletters", nil, false},
	{"POST", "/endpoints/ep1/deadletters/msg_1/retry", nil, true},
	{"POST", "/endpoints/ep1/recover", map[string]any{"since": "2026-01-01T00:00:00Z"}, true},
	{"POST", "/endpoints/ep1/replay", map[string]any{"from": "", "to": ""}, true},
}

// TestRefused sends every route without credentials, with a bad token,
// with a token for another endpoint and with a read-only token: 401, 401,
// 403 and (for writes) 403, with JSON errors and nothing changed.
func TestRefused(t *testing.T) {
	a := newAPI(t, nil)
	a.create("ep1", "https://shop.example/hooks")
	a.create("ep2", "https://other.example/hooks")
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			r := a.do(rt.method, rt.path, "", rt.body)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, "unauthenticated", r.errCode(t))
			assert.Equal(t, `Bearer realm="pushpull"`, r.header.Get("WWW-Authenticate"))

			r = a.do(rt.method, rt.path, "forged", rt.body)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="invalid_token"`)

			r = a.do(rt.method, rt.path, tokNothing, rt.body)
			assert.Equal(t, http.StatusForbidden, r.status)
			assert.Equal(t, "forbidden", r.errCode(t))

			// ep1's token on ep2: refused, whether ep2 exists or not.
			other := strings.Replace(rt.path, "ep1", "ep2", 1)
			assert.Equal(t, http.StatusForbidden, a.do(rt.method, other, tokEP1, rt.body).status)
			assert.Equal(t, http.StatusForbidden, a.do(rt.method, strings.Replace(rt.path, "ep1", "ep9", 1), tokEP1, rt.body).status)

			if rt.write {
				assert.Equal(t, http.StatusForbidden, a.do(rt.method, rt.path, tokReader, rt.body).status)
			}
		})
	}
	// Nothing changed.
	for _, id := range []string{"ep1", "ep2"} {
		c, err := a.store.GetEndpoint(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, int64(1), c.Version, id)
	}

	// Listing every endpoint needs webhooks/*.
	assert.Equal(t, http.StatusForbidden, a.do("GET", "/endpoints", tokEP1, nil).status)
	assert.Equal(t, http.StatusUnauthorized, a.do("GET", "/endpoints", "", nil).status)
	assert.Equal(t, http.StatusOK, a.do("GET", "/endpoints", tokReader, nil).status)
	assert.Equal(t, http.StatusForbidden, a.do("POST", "/endpoints", tokReader, map[string]any{"url": "https://a.example/", "topic": "t"}).status)

	// Unknown routes are 401 before 404, so they tell nothing either.
	assert.Equal(t, http.StatusUnauthorized, a.do("GET", "/secrets", "", nil).status)
}

// TestScopedToken uses the token of one endpoint on every route of it:
// allowed, as the portal needs.
func TestScopedToken(t *testing.T) {
	a := newAPI(t, nil)
	for _, rt := range routes {
		a.create("ep1", "https://shop.example/hooks")
		r := a.do(rt.method, rt.path, tokEP1, rt.body)
		switch rt.path {
		case "/endpoints/ep1/deadletters/msg_1/retry", "/endpoints/ep1/recover", "/endpoints/ep1/replay":
			// No Dispatcher here: authorized, then unavailable.
			assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s %s: %s", rt.method, rt.path, r.body)
		case "/endpoints/ep1" + "":
			if rt.method == "DELETE" {
				assert.Equal(t, http.StatusNoContent, r.status, "%s %s: %s", rt.method, rt.path, r.body)
				continue
			}
			assert.Equal(t, http.StatusOK, r.status, "%s %s: %s", rt.method, rt.path, r.body)
		default:
			assert.Equal(t, http.StatusOK, r.status, "%s %s: %s", rt.method, rt.path, r.body)
		}
		require.NoError(t, a.store.DeleteEndpoint(t.Context(), "ep1"))
	}
}

// TestBadInput sends malformed requests: each gets its status and a JSON
// error, and nothing is stored.
func TestBadInput(t *testing.T) {
	a := newAPI(t, nil)
	a.create("ep1", "https://shop.example/hooks")
	valid := `{"id":"x1","url":"https://a.example/","topic":"orders"}`
	cases := []struct {
		name, method, path string
		body               any
		header             []string
		status             int
		code               string
	}{
		{"bad JSON", "POST", "/endpoints", `{"id":`, nil, 400, "invalid"},
		{"not an object", "POST", "/endpoints", `[1,2]`, nil, 400, "invalid"},
		{"unknown field", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"orders","colour":"red"}`, nil, 400, "invalid"},
		{"trailing data", "POST", "/endpoints", valid + `{}`, nil, 400, "invalid"},
		{"empty body", "POST", "/endpoints", ``, nil, 400, "invalid"},
		{"wrong type", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"orders","rate_limit":"fast"}`, nil, 400, "invalid"},
		{"relative URL", "POST", "/endpoints", `{"id":"x1","url":"/hooks","topic":"orders"}`, nil, 400, "invalid"},
		{"bad topic", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"a b"}`, nil, 400, "invalid"},
		{"bad secret", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"o","secrets":[{"secret":"nope"}]}`, nil, 400, "invalid"},
		{"bad id", "POST", "/endpoints", `{"id":"a/b","url":"https://a.example/","topic":"orders"}`, nil, 400, "invalid"},
		{"version on create", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"orders","version":3}`, nil, 400, "invalid"},
		{"negative burst", "PATCH", "/endpoints/ep1", `{"burst":-1}`, nil, 400, "invalid"},
		{"secrets by PUT", "PUT", "/endpoints/ep1", `{"url":"https://a.example/","topic":"orders","secrets":[{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}`, nil, 400, "invalid"},
		{"other id by PUT", "PUT", "/endpoints/ep1", `{"id":"ep2","url":"https://a.example/","topic":"orders"}`, nil, 400, "invalid"},
		{"bad If-Match", "PUT", "/endpoints/ep1", `{"url":"https://a.example/","topic":"orders"}`, []string{"If-Match", "W/abc"}, 400, "invalid"},
		{"bad rotate secret", "POST", "/endpoints/ep1/rotate", `{"secret":"whsec_!!"}`, nil, 400, "invalid"},
		{"recover without since", "POST", "/endpoints/ep1/recover", `{}`, nil, 400, "invalid"},
		{"recover bad since", "POST", "/endpoints/ep1/recover", `{"since":"yesterday"}`, nil, 400, "invalid"},
		{"text/plain", "POST", "/endpoints", valid, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"no content type", "POST", "/endpoints", valid, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"form", "PATCH", "/endpoints/ep1", `a=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"too large", "POST", "/endpoints", `{"id":"x1","url":"https://a.example/","topic":"orders","description":"` + strings.Repeat("x", 5<<10) + `"}`, nil, 413, "too_large"},
		{"since not RFC 3339", "GET", "/endpoints/ep1/attempts?since=1700000000", nil, nil, 400, "invalid"},
		{"until before since", "GET", "/endpoints/ep1/attempts?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", nil, nil, 400, "invalid"},
		{"limit zero", "GET", "/endpoints/ep1/attempts?limit=0", nil, nil, 400, "invalid"},
		{"limit too big", "GET", "/endpoints/ep1/deadletters?limit=1001", nil, nil, 400, "invalid"},
		{"failed not bool", "GET", "/endpoints/ep1/attempts?failed=maybe", nil, nil, 400, "invalid"},
		{"unknown parameter", "GET", "/endpoints/ep1/attempts?sinse=2026-01-01T00:00:00Z", nil, nil, 400, "invalid"},
		{"bad id in path", "GET", "/endpoints/a%20b", nil, nil, 400, "invalid"},
		{"long id in path", "GET", "/endpoints/" + strings.Repeat("a", 201), nil, nil, 400, "invalid"},
		{"bad delivery in path", "POST", "/endpoints/ep1/deadletters/a%2Ab/retry", nil, nil, 400, "invalid"},
		{"unknown route", "GET", "/nothing", nil, nil, 404, "not_found"},
		{"unknown subroute", "GET", "/endpoints/ep1/secrets", nil, nil, 404, "not_found"},
		{"too deep", "GET", "/endpoints/ep1/deadletters/d/retry/now", nil, nil, 404, "not_found"},
		{"empty id", "GET", "/endpoints//status", nil, nil, 404, "not_found"},
		{"unknown endpoint", "GET", "/endpoints/ep9/attempts", nil, nil, 404, "not_found"},
		{"unknown endpoint patch", "PATCH", "/endpoints/ep9", `{}`, nil, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do(c.method, c.path, tokOperator, c.body, c.header...)
			assert.Equal(t, c.status, r.status, "%s", r.body)
			assert.Equal(t, c.code, r.errCode(t))
		})
	}
	list, err := a.store.ListEndpoints(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, int64(1), list[0].Version)
}

// TestMethodNotAllowed answers 405 with the route's methods in Allow.
func TestMethodNotAllowed(t *testing.T) {
	a := newAPI(t, nil)
	for path, allow := range map[string]string{
		"/endpoints":                            "GET, HEAD, POST",
		"/endpoints/ep1":                        "GET, HEAD, PUT, PATCH, DELETE",
		"/endpoints/ep1/rotate":                 "POST",
		"/endpoints/ep1/attempts":               "GET, HEAD",
		"/endpoints/ep1/deadletters/msg_/retry": "POST",
	} {
		r := a.do("OPTIONS", path, tokOperator, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status, path)
		assert.Equal(t, allow, r.header.Get("Allow"), path)
		assert.Equal(t, "method_not_allowed", r.errCode(t))
	}
	r := a.do("POST", "/portal", "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
}
