package auth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/pushpull/pushpull/bus"
)

// Bearer is an Authorizer for token credentials: it finds the request's
// token and has Verify turn it into an Identity, then grants what the
// identity's patterns grant.
//
// The token is looked for in the Authorization header ("Bearer <token>"),
// then in the cookie named Cookie, then in the query parameter named
// Query; the first one present is used. A browser's EventSource cannot set
// headers: give it the token in a cookie (best: HttpOnly, Secure,
// SameSite, never in logs) or in the query (simplest, but URLs end up in
// access logs, proxies and the browser's history: use short-lived tokens
// there). WebSocket in browsers cannot set headers either; the same two
// ways apply.
//
// The zero value is not usable: Verify must be set.
type Bearer struct {
	// Verify returns the identity a token stands for, or an error
	// wrapping ErrUnauthenticated for a token that is not valid (or
	// another error when it cannot tell, which answers 503). Required.
	Verify func(ctx context.Context, token string) (*Identity, error)
	// Cookie names the cookie the token may come in. Empty means none.
	Cookie string
	// Query names the query parameter the token may come in, e.g.
	// "access_token". Empty means none.
	Query string
	// Anonymous is the identity of a request that carries no token at
	// all, such as one allowed to read public topics. Nil means such a
	// request is refused with 401. A request whose token is not valid is
	// refused whatever Anonymous is.
	Anonymous *Identity
}

var _ Authorizer = (*Bearer)(nil)

// Token returns the request's token and reports whether there was one. An
// Authorization header with another scheme than Bearer counts as a token
// that is not valid: Authenticate refuses it.
func (b *Bearer) Token(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", true
		}
		return strings.TrimSpace(tok), true
	}
	if b.Cookie != "" {
		if c, err := r.Cookie(b.Cookie); err == nil && c.Value != "" {
			return c.Value, true
		}
	}
	if b.Query != "" {
		if v := r.URL.Query().Get(b.Query); v != "" {
			return v, true
		}
	}
	return "", false
}

// Authenticate implements Authorizer.
func (b *Bearer) Authenticate(r *http.Request) (*Identity, error) {
	tok, ok := b.Token(r)
	if !ok {
		if b.Anonymous != nil {
			return b.Anonymous, nil
		}
		return nil, ErrNoCredentials
	}
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token or a scheme other than Bearer", ErrUnauthenticated)
	}
	return b.Verify(r.Context(), tok)
}

// Authorize implements Authorizer: id.Check.
func (b *Bearer) Authorize(_ context.Context, id *Identity, action Action, topic string) error {
	return id.Check(action, topic)
}

// Public is an Authorizer for endpoints without credentials: every request
// is the same anonymous identity, allowed the patterns listed. The zero
// value allows nothing.
//
//	// Anyone may follow prices and news; nobody may publish.
//	h := &sse.Handler{Broker: b, Auth: auth.Public{Subscribe: []string{"prices", "news/*"}}}
type Public struct {
	Subscribe []string // patterns anyone may subscribe to
	Publish   []string // patterns anyone may publish on
}

var _ Authorizer = Public{}

// Authenticate implements Authorizer: an anonymous identity.
func (p Public) Authenticate(*http.Request) (*Identity, error) {
	return &Identity{Subscribe: p.Subscribe, Publish: p.Publish}, nil
}

// Authorize implements Authorizer: id.Check.
func (p Public) Authorize(_ context.Context, id *Identity, action Action, topic string) error {
	return id.Check(action, topic)
}

// Stamp sets m.Meta[key] to the subject of id, the server-side signature
// of who published m. A message that already names another subject under
// key is refused with an error wrapping ErrForbidden (a client posing as
// someone else); so is an anonymous one that names anyone. m.Meta is
// copied, never changed in place.
func Stamp(m *bus.Message, key string, id *Identity) error {
	sub := ""
	if id != nil {
		sub = id.Subject
	}
	if v, ok := m.Meta[key]; ok && v != sub {
		return fmt.Errorf("%w: %s %q does not match the identity", ErrForbidden, key, v)
	}
	if sub == "" {
		return nil
	}
	meta := make(map[string]string, len(m.Meta)+1)
	maps.Copy(meta, m.Meta)
	meta[key] = sub
	m.Meta = meta
	return nil
}

// Challenge returns the WWW-Authenticate value of a 401 answer to err
// (RFC 6750): Bearer, with error="invalid_token" when credentials were
// sent but refused.
func Challenge(err error) string {
	if err == nil || errors.Is(err, ErrNoCredentials) {
		return `Bearer realm="pushpull"`
	}
	return `Bearer realm="pushpull", error="invalid_token"`
}
