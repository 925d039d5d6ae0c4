package jwt_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/jwt"
)

// Any token string is refused with ErrUnauthenticated or accepted with
// an identity whose patterns are all valid; never a panic.
func FuzzVerify(f *testing.F) {
	ss := testSigners(f)
	v := staticVerifier(f)
	f.Add(sign(f, ss[jwt.HS256], "", claims([]string{"a/*"}, []string{"b"})))
	f.Add(sign(f, ss[jwt.EdDSA], "k", jwtlib.MapClaims{"sub": "x", "pushpull": map[string]any{"subscribe": []any{"*"}}}))
	f.Add(noneToken(jwtlib.MapClaims{"sub": "x"}))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("refusal %v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		for _, p := range append(id.Subscribe, id.Publish...) {
			if auth.ValidatePattern(p) != nil {
				t.Fatalf("invalid pattern %q accepted", p)
			}
		}
	})
}

// Any JSON claim is read into valid patterns or refused with
// ErrUnauthenticated.
func FuzzPatterns(f *testing.F) {
	f.Add(`{"subscribe":["a/*","b"],"publish":["*"]}`)
	f.Add(`{"subscribe":"a"}`)
	f.Add(`{"subscribe":["{x}"]}`)
	f.Add(`[1,2]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, data string) {
		var claim any
		if json.Unmarshal([]byte(data), &claim) != nil {
			return
		}
		sub, pub, err := jwt.Patterns(claim)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("%v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		for _, p := range append(sub, pub...) {
			if auth.ValidatePattern(p) != nil {
				t.Fatalf("invalid pattern %q accepted", p)
			}
		}
	})
}

// Any document is parsed into usable keys or refused; never a panic.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, data string) {
		keys, err := jwt.ParseJWKS([]byte(data))
		if err != nil {
			return
		}
		for _, k := range keys {
			if k.Key == nil {
				t.Fatal("a key without a key")
			}
		}
	})
}
