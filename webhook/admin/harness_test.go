package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

// The tokens of the tests and what they may do.
const (
	tokOperator = "operator" // subscribe and publish webhooks/*
	tokReader   = "reader"   // subscribe webhooks/*
	tokEP1      = "ep1"      // subscribe and publish webhooks/ep1: its portal
	tokNothing  = "nothing"  // a valid token with no rights
)

// testAuth is a Bearer with the tokens above.
func testAuth() auth.Authorizer {
	ids := map[string]*auth.Identity{
		tokOperator: {Subject: "ops", Subscribe: []string{"webhooks/*"}, Publish: []string{"webhooks/*"}},
		tokReader:   {Subject: "reader", Subscribe: []string{"webhooks/*"}},
		tokEP1:      {Subject: "shop", Subscribe: []string{"webhooks/ep1"}, Publish: []string{"webhooks/ep1"}},
		tokNothing:  {Subject: "nobody"},
	}
	return &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
		if id, ok := ids[tok]; ok {
			return id, nil
		}
		return nil, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
	}}
}

// api is a Handler mounted at /admin/ on a test server, and a client of it.
type api struct {
	t     *testing.T
	store *webhook.MemoryStore
	h     *admin.Handler
	srv   *httptest.Server
	// secrets are those the API answered so far: no other answer may
	// hold them.
	secrets []string
}

func newAPI(t *testing.T, d *webhook.Dispatcher) *api {
	t.Helper()
	a := &api{t: t, store: webhook.NewMemoryStore()}
	a.h = &admin.Handler{Dispatcher: d, Store: a.store, Auth: testAuth(), MaxBody: 4 << 10}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", a.h))
	mux.Handle("/portal/", http.StripPrefix("/portal", admin.Portal(a.h)))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// answer is one response: status, headers and body.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// decode decodes the body into v.
func (r answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// endpoint decodes the body as an endpoint.
func (r answer) endpoint(t *testing.T) admin.Endpoint {
	t.Helper()
	var ep admin.Endpoint
	r.decode(t, &ep)
	return ep
}

// errCode returns the code of an error answer.
func (r answer) errCode(t *testing.T) string {
	t.Helper()
	var e admin.ErrorBody
	r.decode(t, &e)
	require.NotEmpty(t, e.Error.Message, "body: %s", r.body)
	return e.Error.Code
}

// do sends a request to the API. body is JSON-encoded unless it is a
// string or []byte; header holds pairs of header names and values.
func (a *api) do(method, path, token string, body any, header ...string) answer {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(a.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.srv.URL+"/admin"+path, rd)
	require.NoError(a.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := a.srv.Client().Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	if res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusNotModified && method != http.MethodHead {
		require.Equal(a.t, "application/json", res.Header.Get("Content-Type"), "%s %s: %s", method, path, b)
	}
	a.checkSecrets(method, path, b)
	return answer{status: res.StatusCode, header: res.Header, body: b}
}

// checkSecrets fails the test when an answer other than a create's or a
// rotation's holds a secret, and records the secrets those answer.
func (a *api) checkSecrets(method, path string, body []byte) {
	a.t.Helper()
	path, _, _ = strings.Cut(path, "?")
	shows := method == "POST" && (path == "/endpoints" || strings.HasSuffix(path, "/rotate"))
	if !shows {
		for _, s := range a.secrets {
			require.NotContains(a.t, string(body), strings.TrimPrefix(s, webhook.SecretPrefix), "%s %s shows a secret", method, path)
		}
	}
	var v struct {
		Secret string `json:"secret"`
	}
	if json.Unmarshal(body, &v) == nil && v.Secret != "" {
		require.True(a.t, shows, "%s %s shows a secret", method, path)
		a.secrets = append(a.secrets, v.Secret)
	}
}

// create creates an endpoint through the API and returns its answer.
func (a *api) create(id, url string) admin.Endpoint {
	a.t.Helper()
	r := a.do("POST", "/endpoints", tokOperator, map[string]any{"id": id, "url": url, "topic": "orders"})
	require.Equal(a.t, http.StatusCreated, r.status, "%s", r.body)
	return r.endpoint(a.t)
}

// storeWithEP1 returns a MemoryStore holding the endpoint ep1.
func storeWithEP1(tb testing.TB) *webhook.MemoryStore {
	tb.Helper()
	store := webhook.NewMemoryStore()
	_, err := store.PutEndpoint(context.Background(), webhook.EndpointConfig{ID: "ep1", URL: "https://a.example/", Topic: "orders",
		Secrets: []webhook.SecretConfig{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return store
}
