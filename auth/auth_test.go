package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, topic string
		want           bool
	}{
		{"orders/42", "orders/42", true},
		{"orders/42", "orders/421", false},
		{"orders/*", "orders/42", true},
		{"orders/*", "orders/42/items", true},
		{"orders/*", "orders", false},
		{"orders*", "orders", true},
		{"*", "anything", true},
		{"", "x", false},
	}
	for _, c := range cases {
		if got := auth.Match(c.pattern, c.topic); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.topic, got, c.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"a", "orders/*", "*", "chat.room-1"} {
		if err := auth.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "**", "a*b*", "books/{id}", "a b", "a*b"} {
		if err := auth.ValidatePattern(p); !errors.Is(err, bus.ErrInvalidTopic) {
			t.Errorf("ValidatePattern(%q) = %v, want bus.ErrInvalidTopic", p, err)
		}
	}
}

func TestIdentityDenyByDefault(t *testing.T) {
	var none *auth.Identity
	empty := &auth.Identity{Subject: "alice"}
	reader := &auth.Identity{Subject: "bob", Subscribe: []string{"news/*"}}
	for _, id := range []*auth.Identity{none, empty} {
		if err := id.Check(auth.Subscribe, "news/1"); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%v may subscribe: %v", id, err)
		}
	}
	if err := reader.Check(auth.Subscribe, "news/1"); err != nil {
		t.Error(err)
	}
	if err := reader.Check(auth.Publish, "news/1"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("subscribe pattern grants publish: %v", err)
	}
	if err := reader.Check(auth.Subscribe, "newsx"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("prefix leaks: %v", err)
	}
}

// verify accepts the token "good" (expiring in an hour) and "old"
// (expired), and refuses the others.
func verify(_ context.Context, tok string) (*auth.Identity, error) {
	switch tok {
	case "good":
		return &auth.Identity{Subject: "alice", Expires: time.Now().Add(time.Hour), Subscribe: []string{"*"}}, nil
	case "old":
		return &auth.Identity{Subject: "alice", Expires: time.Now().Add(-time.Second)}, nil
	case "down":
		return nil, errors.New("key server unreachable")
	}
	return nil, fmt.Errorf("%w: bad token", auth.ErrUnauthenticated)
}

func TestBearerSources(t *testing.T) {
	b := &auth.Bearer{Verify: verify, Cookie: "tok", Query: "access_token"}
	req := func(mod func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("GET", "/x", nil)
		mod(r)
		return r
	}
	ok := []*http.Request{
		req(func(r *http.Request) { r.Header.Set("Authorization", "Bearer good") }),
		req(func(r *http.Request) { r.Header.Set("Authorization", "bearer  good") }),
		req(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "tok", Value: "good"}) }),
		req(func(r *http.Request) { r.URL.RawQuery = "access_token=good" }),
	}
	for i, r := range ok {
		r2, id, err := auth.Authenticate(b, r)
		if err != nil || id.Subject != "alice" {
			t.Fatalf("%d: %v %v", i, id, err)
		}
		if got, _ := auth.FromContext(r2.Context()); got != id {
			t.Errorf("%d: identity not in the context", i)
		}
	}
	bad := map[string]*http.Request{
		"none":  req(func(*http.Request) {}),
		"basic": req(func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }),
		"empty": req(func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }),
		"header": req(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer nope")
			r.URL.RawQuery = "access_token=good"
		}),
		"old": req(func(r *http.Request) { r.URL.RawQuery = "access_token=old" }),
	}
	for name, r := range bad {
		if _, _, err := auth.Authenticate(b, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := auth.Authenticate(b, bad["none"]); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("none: %v, want ErrNoCredentials", err)
	}
	if _, _, err := auth.Authenticate(b, bad["old"]); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("old: %v, want ErrExpired", err)
	}
	if _, _, err := auth.Authenticate(b, req(func(r *http.Request) { r.URL.RawQuery = "access_token=down" })); err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("down: %v, want an error that is not ErrUnauthenticated", err)
	}
	// With an anonymous identity, no token is that identity, a bad token
	// is still refused.
	b.Anonymous = &auth.Identity{Subscribe: []string{"public/*"}}
	if _, id, err := auth.Authenticate(b, bad["none"]); err != nil || id != b.Anonymous {
		t.Errorf("anonymous: %v %v", id, err)
	}
	if _, _, err := auth.Authenticate(b, bad["basic"]); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("basic with Anonymous: %v", err)
	}
}

func TestChallenge(t *testing.T) {
	if got := auth.Challenge(auth.ErrNoCredentials); got != `Bearer realm="pushpull"` {
		t.Error(got)
	}
	if got := auth.Challenge(auth.ErrExpired); got != `Bearer realm="pushpull", error="invalid_token"` {
		t.Error(got)
	}
}

func TestStamp(t *testing.T) {
	alice := &auth.Identity{Subject: "alice"}
	m := bus.Message{Meta: map[string]string{"k": "v"}}
	orig := m.Meta
	if err := auth.Stamp(&m, "from", alice); err != nil || m.Meta["from"] != "alice" || m.Meta["k"] != "v" {
		t.Fatalf("%v %v", m.Meta, err)
	}
	if _, ok := orig["from"]; ok {
		t.Error("Stamp changed the caller's map")
	}
	spoof := bus.Message{Meta: map[string]string{"from": "bob"}}
	if err := auth.Stamp(&spoof, "from", alice); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("spoof: %v", err)
	}
	same := bus.Message{Meta: map[string]string{"from": "alice"}}
	if err := auth.Stamp(&same, "from", alice); err != nil {
		t.Errorf("own name: %v", err)
	}
	if err := auth.Stamp(&spoof, "from", nil); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("anonymous spoof: %v", err)
	}
	plain := bus.Message{}
	if err := auth.Stamp(&plain, "from", &auth.Identity{}); err != nil || plain.Meta != nil {
		t.Errorf("anonymous: %v %v", plain.Meta, err)
	}
}
