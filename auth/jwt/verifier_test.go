package jwt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signer is a private key and its algorithm.
type signer struct {
	method jwtlib.SigningMethod
	priv   any
	pub    any
}

var (
	keysOnce sync.Once
	signers  map[string]signer
)

func testSigners(t testing.TB) map[string]signer {
	keysOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		epub, epriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		secret := []byte("a secret of at least thirty-two bytes!")
		signers = map[string]signer{
			jwt.HS256: {jwtlib.SigningMethodHS256, secret, secret},
			jwt.RS256: {jwtlib.SigningMethodRS256, rk, &rk.PublicKey},
			jwt.ES256: {jwtlib.SigningMethodES256, ek, &ek.PublicKey},
			jwt.EdDSA: {jwtlib.SigningMethodEdDSA, epriv, epub},
		}
	})
	return signers
}

func sign(t testing.TB, s signer, kid string, claims jwtlib.MapClaims) string {
	t.Helper()
	tok := jwtlib.NewWithClaims(s.method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	str, err := tok.SignedString(s.priv)
	require.NoError(t, err)
	return str
}

// claims are alice's, valid for an hour, for issuer "iss" and audience
// "pushpull", granting the given patterns.
func claims(sub []string, pub []string) jwtlib.MapClaims {
	now := time.Now()
	c := jwtlib.MapClaims{
		"sub": "alice", "iss": "iss", "aud": "pushpull",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	g := map[string]any{}
	if sub != nil {
		g["subscribe"] = sub
	}
	if pub != nil {
		g["publish"] = pub
	}
	c["pushpull"] = g
	return c
}

func staticVerifier(t testing.TB) *jwt.Verifier {
	v := &jwt.Verifier{Issuer: "iss", Audience: "pushpull", Leeway: time.Second}
	for _, s := range testSigners(t) {
		v.Keys = append(v.Keys, jwt.Key{Key: s.pub})
	}
	return v
}

func TestVerifyAlgorithms(t *testing.T) {
	v := staticVerifier(t)
	for alg, s := range testSigners(t) {
		t.Run(alg, func(t *testing.T) {
			tok := sign(t, s, "", claims([]string{"user/alice/*"}, []string{"chat/*"}))
			id, err := v.Verify(context.Background(), tok)
			require.NoError(t, err)
			assert.Equal(t, "alice", id.Subject)
			assert.Equal(t, []string{"user/alice/*"}, id.Subscribe)
			assert.Equal(t, []string{"chat/*"}, id.Publish)
			assert.WithinDuration(t, time.Now().Add(time.Hour+time.Second), id.Expires, 5*time.Second)
			assert.True(t, id.Allows(auth.Subscribe, "user/alice/inbox"))
			assert.False(t, id.Allows(auth.Subscribe, "user/bob/inbox"))
		})
	}
}

// noneToken returns an unsigned token with alg "none".
func noneToken(c jwtlib.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	b, _ := json.Marshal(c)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(b) + "."
}

func TestVerifyRefusals(t *testing.T) {
	v := staticVerifier(t)
	ss := testSigners(t)
	rs := ss[jwt.RS256]
	good := claims([]string{"*"}, nil)
	with := func(k string, val any) jwtlib.MapClaims {
		c := jwtlib.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	now := time.Now()
	forged := sign(t, rs, "", good)
	forged = forged[:len(forged)-4] + "AAAA"
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	// HS256 signed with the RSA public key's bytes: the classic algorithm
	// confusion.
	pubDER := rs.pub.(*rsa.PublicKey).N.Bytes()
	confused := sign(t, signer{jwtlib.SigningMethodHS256, pubDER, nil}, "", good)
	rs512, err := jwtlib.NewWithClaims(jwtlib.SigningMethodRS512, good).SignedString(rs.priv)
	require.NoError(t, err)

	cases := map[string]struct {
		token  string
		reason string
	}{
		"expired":           {sign(t, rs, "", with("exp", now.Add(-time.Minute).Unix())), "token expired"},
		"not yet valid":     {sign(t, rs, "", with("nbf", now.Add(time.Minute).Unix())), "token not valid yet"},
		"issued in future":  {sign(t, rs, "", with("iat", now.Add(time.Minute).Unix())), "token not valid yet"},
		"wrong audience":    {sign(t, rs, "", with("aud", "other")), "wrong audience"},
		"no audience":       {sign(t, rs, "", with("aud", nil)), "a required claim is missing"},
		"wrong issuer":      {sign(t, rs, "", with("iss", "evil")), "wrong issuer"},
		"forged signature":  {forged, "bad signature"},
		"other key":         {sign(t, signer{jwtlib.SigningMethodRS256, otherRSA, nil}, "", good), "bad signature"},
		"none":              {noneToken(good), "algorithm not allowed"},
		"RS512":             {rs512, "algorithm not allowed"},
		"HS256 with RSA pk": {confused, "bad signature"},
		"garbage":           {"not.a.token", "malformed token"},
		"empty":             {"", "malformed token"},
		"bad claim shape":   {sign(t, rs, "", with("pushpull", "everything")), "bad claim"},
		"template":          {sign(t, rs, "", with("pushpull", map[string]any{"subscribe": []any{"books/{id}"}})), "bad claim"},
		"sub not string":    {sign(t, rs, "", with("sub", 42)), "bad claim"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), c.token)
			require.Error(t, err, "accepted: %+v", id)
			assert.ErrorIs(t, err, auth.ErrUnauthenticated)
			assert.Contains(t, err.Error(), c.reason)
		})
	}
	_, err = v.Verify(context.Background(), cases["expired"].token)
	assert.ErrorIs(t, err, auth.ErrExpired)
}

// Leeway lets a token that expired a moment ago through, and the identity
// expires Leeway after exp.
func TestVerifyLeeway(t *testing.T) {
	rs := testSigners(t)[jwt.RS256]
	v := &jwt.Verifier{Keys: []jwt.Key{{Key: rs.pub}}, Leeway: time.Minute}
	exp := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	id, err := v.Verify(context.Background(), sign(t, rs, "", jwtlib.MapClaims{"sub": "a", "exp": exp.Unix()}))
	require.NoError(t, err)
	assert.Equal(t, exp.Add(time.Minute), id.Expires)
	assert.Empty(t, id.Subscribe, "no claim grants nothing")

	v = &jwt.Verifier{Keys: []jwt.Key{{Key: rs.pub}}, RequireExpiry: true}
	_, err = v.Verify(context.Background(), sign(t, rs, "", jwtlib.MapClaims{"sub": "a"}))
	assert.ErrorIs(t, err, auth.ErrUnauthenticated)
}

func TestMercureClaim(t *testing.T) {
	rs := testSigners(t)[jwt.RS256]
	v := &jwt.Verifier{Keys: []jwt.Key{{Key: rs.pub}}, Claim: "mercure"}
	id, err := v.Verify(context.Background(), sign(t, rs, "", jwtlib.MapClaims{"mercure": map[string]any{"subscribe": []any{"*"}}}))
	require.NoError(t, err)
	assert.True(t, id.Allows(auth.Subscribe, "anything"))
	assert.False(t, id.Allows(auth.Publish, "anything"))
}

// Key IDs pick the key: a static key with an ID only verifies tokens
// naming it.
func TestKeyIDs(t *testing.T) {
	ss := testSigners(t)
	v := &jwt.Verifier{Keys: []jwt.Key{{ID: "ed", Key: ss[jwt.EdDSA].pub}}}
	_, err := v.Verify(context.Background(), sign(t, ss[jwt.EdDSA], "ed", jwtlib.MapClaims{"sub": "a"}))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), sign(t, ss[jwt.EdDSA], "other", jwtlib.MapClaims{"sub": "a"}))
	assert.ErrorIs(t, err, auth.ErrUnauthenticated)
	assert.Contains(t, err.Error(), "unknown key")
}

// jwksServer serves a key set that the test can replace, and counts the
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
	down    atomic.Bool
}

func newJWKS(t testing.TB) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns the JWK of a public key.
func jwkOf(kid string, pub crypto.PublicKey) map[string]any {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := k.Bytes()
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k)}
	}
	panic("key type")
}

func (s *jwksServer) set(keys ...map[string]any) {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func TestJWKS(t *testing.T) {
	ss := testSigners(t)
	srv := newJWKS(t)
	srv.set(jwkOf("rsa-1", ss[jwt.RS256].pub), jwkOf("ec-1", ss[jwt.ES256].pub), jwkOf("ed-1", ss[jwt.EdDSA].pub),
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc"})
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	v := &jwt.Verifier{JWKSURL: srv.URL, JWKSMaxAge: time.Hour, JWKSMinRefresh: time.Minute,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	ctx := context.Background()
	c := jwtlib.MapClaims{"sub": "a"}
	for _, kc := range []struct{ alg, kid string }{{jwt.RS256, "rsa-1"}, {jwt.ES256, "ec-1"}, {jwt.EdDSA, "ed-1"}} {
		_, err := v.Verify(ctx, sign(t, ss[kc.alg], kc.kid, c))
		require.NoError(t, err, kc.alg)
	}
	assert.Equal(t, int32(1), srv.fetches.Load(), "keys are cached")

	// Rotation: a new key appears; a token naming it makes the verifier
	// fetch again, at most once per JWKSMinRefresh.
	rotated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv.set(jwkOf("ec-2", &rotated.PublicKey))
	tok2 := sign(t, signer{jwtlib.SigningMethodES256, rotated, nil}, "ec-2", c)
	_, err = v.Verify(ctx, tok2)
	assert.ErrorIs(t, err, auth.ErrUnauthenticated, "fetched too soon after the last fetch")
	assert.Equal(t, int32(1), srv.fetches.Load())
	clock.Add(int64(time.Minute))
	_, err = v.Verify(ctx, tok2)
	require.NoError(t, err)
	assert.Equal(t, int32(2), srv.fetches.Load())
	_, err = v.Verify(ctx, sign(t, ss[jwt.RS256], "rsa-1", c))
	assert.ErrorIs(t, err, auth.ErrUnauthenticated, "a key removed from the set is no longer accepted")

	// The server goes down: cached keys go on working past JWKSMaxAge.
	srv.down.Store(true)
	clock.Add(int64(2 * time.Hour))
	_, err = v.Verify(ctx, tok2)
	require.NoError(t, err)
	assert.Equal(t, int32(3), srv.fetches.Load(), "a stale set is fetched again")
}

// Without any key fetched, an unreachable JWKS is not the token's fault:
// the error does not wrap auth.ErrUnauthenticated (Handlers answer 503).
func TestJWKSDown(t *testing.T) {
	srv := newJWKS(t)
	srv.down.Store(true)
	v := &jwt.Verifier{JWKSURL: srv.URL}
	_, err := v.Verify(context.Background(), sign(t, testSigners(t)[jwt.RS256], "k", jwtlib.MapClaims{"sub": "a"}))
	require.Error(t, err)
	assert.False(t, errors.Is(err, auth.ErrUnauthenticated), "%v", err)
	assert.True(t, strings.Contains(err.Error(), "JWKS"), "%v", err)
}

func TestParseJWKS(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{}`, `{"keys":[{"kty":"RSA","n":"!","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, // 17-bit modulus
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`} {
		_, err := jwt.ParseJWKS([]byte(bad))
		assert.Error(t, err, bad)
	}
	keys, err := jwt.ParseJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-384","x":"","y":""}]}`))
	require.NoError(t, err)
	assert.Empty(t, keys, "symmetric keys and other curves are left out")
}
