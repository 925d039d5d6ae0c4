package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
)

// A valid pattern matches the topics it names and only those; an invalid
// one is refused with bus.ErrInvalidTopic.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"a", "a/*", "*", "{x}", "a*b", ""} {
		f.Add(s, "a/b")
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if err := auth.ValidatePattern(pattern); err != nil {
			if !errors.Is(err, bus.ErrInvalidTopic) {
				t.Fatalf("%v does not wrap bus.ErrInvalidTopic", err)
			}
			return
		}
		prefix, isPrefix := strings.CutSuffix(pattern, "*")
		if named := prefix + "x"; isPrefix && !auth.Match(pattern, named) {
			t.Fatalf("%q does not match %q", pattern, named)
		}
		if !isPrefix && !auth.Match(pattern, pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
		if auth.Match(pattern, topic) && !strings.HasPrefix(topic, prefix) {
			t.Fatalf("%q matches %q", pattern, topic)
		}
	})
}

// Whatever the Authorization header, Bearer hands Verify exactly the
// token after "Bearer ", or refuses with ErrUnauthenticated.
func FuzzBearerHeader(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic abc", "Bearer", "", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		var got string
		b := &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
			got = tok
			return &auth.Identity{}, nil
		}}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		_, err := b.Authenticate(r)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("%v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		scheme, rest, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || got != strings.TrimSpace(rest) || got == "" {
			t.Fatalf("header %q gave token %q", header, got)
		}
	})
}
