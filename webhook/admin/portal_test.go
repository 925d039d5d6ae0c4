package admin_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPortalServed serves the page without credentials, at the Handler's
// /portal and at the root of Portal, whose API answers beneath it.
func TestPortalServed(t *testing.T) {
	a := newAPI(t, nil)
	a.create("ep1", "https://shop.example/hooks")
	for _, path := range []string{"/admin/portal", "/portal/"} {
		res, err := a.srv.Client().Get(a.srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, res.StatusCode, path)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		csp := res.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "connect-src 'self'")
		assert.Contains(t, csp, "script-src 'sha256-")
		assert.NotContains(t, csp, "unsafe")
		assert.Contains(t, string(body), "Webhook deliveries")
	}
	// The API beneath the portal's root, with the endpoint's token.
	req, err := http.NewRequest("GET", a.srv.URL+"/portal/endpoints/ep1/deliveries", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tokEP1)
	res, err := a.srv.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.JSONEq(t, `{"deliveries":[]}`, string(body))
	req.Header.Del("Authorization")
	res, err = a.srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
