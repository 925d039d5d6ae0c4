package jwt_test

import (
	"context"
	"testing"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth/jwt"
)

// BenchmarkVerify measures one Verify per algorithm: the cost a Handler
// with a JWT Auth adds to each request (each ws connection).
func BenchmarkVerify(b *testing.B) {
	v := staticVerifier(b)
	for _, alg := range []string{jwt.HS256, jwt.RS256, jwt.ES256, jwt.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			tok := sign(b, testSigners(b)[alg], "", claims([]string{"user/alice/*"}, []string{"chat/*"}))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyJWKS is Verify with the key from a cached JWKS.
func BenchmarkVerifyJWKS(b *testing.B) {
	ss := testSigners(b)
	srv := newJWKS(b)
	srv.set(jwkOf("ed-1", ss[jwt.EdDSA].pub))
	v := &jwt.Verifier{JWKSURL: srv.URL}
	tok := sign(b, ss[jwt.EdDSA], "ed-1", jwtlib.MapClaims{"sub": "a"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
