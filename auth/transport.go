package auth

import (
	"context"
	"fmt"
	"net/http"
)

// Transport is a client-side http.RoundTripper that sends a fresh bearer
// token with every request: give it to a poll, longpoll, sse or ws Client
// in its HTTPClient, and the Client reconnects after its credentials
// expired (an SSE stream or ws connection ended, a long poll answered)
// with a new token and goes on from its cursor.
//
//	c := &sse.Client{URL: u, HTTPClient: &http.Client{Transport: &auth.Transport{Token: myTokens.Current}}}
//
// Token is required. A Transport is safe for concurrent use when Token
// is.
type Transport struct {
	// Token returns the token to send now, refreshing it as needed.
	// An error fails the request (a client retries it as a network
	// error). Required.
	Token func(ctx context.Context) (string, error)
	// Base sends the requests. Nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It sets the Authorization header
// on a copy of req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, also on errors
		}
		return nil, fmt.Errorf("auth: token: %w", err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
