package admin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/webhook/admin"
)

// decodeRoutes are the routes that decode a JSON body.
var decodeRoutes = []string{"POST /endpoints", "PUT /endpoints/ep1", "PATCH /endpoints/ep1", "POST /endpoints/ep1/rotate",
	"POST /endpoints/ep1/recover", "POST /endpoints/ep1/replay", "POST /endpoints/ep1/disable", "POST /endpoints/ep1/enable",
	"POST /endpoints/ep1/deadletters/msg_1/retry"}

// FuzzDecode sends arbitrary bodies to the routes that decode JSON: the
// answer is always JSON with a 2xx or 4xx status (never 5xx, never a
// panic), an error answer has a code and a message, and whatever was
// stored is a valid endpoint.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"ep1","url":"https://a.example/","topic":"orders"}`,
		`{"id":"ep2","url":"https://a.example/","topic":"orders","types":["order.*"],"headers":{"X-A":"1"},"rate_limit":2.5,"burst":3,"max_concurrent":2}`,
		`{"url":"https://a.example/","topic":"orders","secrets":[{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","not_after":"2030-01-01T00:00:00Z"}]}`,
		`{"rate_limit":1e400}`, `{"burst":-1}`, `{"headers":{"Content-Type":"x"}}`, `{"version":1,"description":"\u0000"}`,
		`{"since":"2026-01-01T00:00:00Z"}`, `{"secret":"","not_after":"0001-01-01T00:00:00Z"}`, `{"from":"x","to":"y"}`,
		`null`, `[]`, `""`, `{`, `{"id":1}`, `{"types":null}`, "{\"url\":\"https://a.example/\"}\n{}", "\xff",
	} {
		for i := range decodeRoutes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		method, path, _ := strings.Cut(decodeRoutes[int(route)%len(decodeRoutes)], " ")
		store := storeWithEP1(t)
		h := &admin.Handler{Store: store, MaxBody: 1 << 10}
		req := httptest.NewRequest(method, "http://admin.example"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e admin.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s %q: %d with a bad error body %q", method, path, body, rec.Code, rec.Body)
			}
		} else if rec.Code != http.StatusNoContent && rec.Code != http.StatusNotModified && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", method, path, body, rec.Code, rec.Body)
		}
		list, err := store.ListEndpoints(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if err := c.Validate(); err != nil {
				t.Fatalf("%s %s %q stored an invalid endpoint: %v", method, path, body, err)
			}
		}
	})
}

// FuzzQuery sends arbitrary query strings to the list routes: 200 or 400,
// never anything else.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"", "since=2026-01-01T00:00:00Z", "until=2026-01-01T00:00:00.5+02:00&failed=1&limit=5",
		"limit=-1", "limit=99999999999999999999", "failed=yes", "since=&until=", "x=1", "limit=1&limit=2", "%zz"} {
		for _, p := range []string{"attempts", "deadletters", "deliveries"} {
			f.Add(p, s)
		}
	}
	f.Fuzz(func(t *testing.T, route, query string) {
		store := storeWithEP1(t)
		h := &admin.Handler{Store: store}
		u := &url.URL{Scheme: "http", Host: "admin.example", Path: "/endpoints/ep1/" + route, RawQuery: query}
		req := httptest.NewRequest("GET", "http://admin.example/", nil)
		req.URL = u
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Fatalf("%s?%s: %d %s", route, query, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s?%s: body is not JSON: %q", route, query, rec.Body)
		}
	})
}
