package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth"
)

// The algorithms a Verifier accepts.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Defaults of the Verifier's fields.
const (
	DefaultLeeway         = 30 * time.Second
	DefaultClaim          = "pushpull"
	DefaultJWKSMaxAge     = time.Hour
	DefaultJWKSMinRefresh = time.Minute
)

// A Key is a verification key.
type Key struct {
	// ID is the key ID ("kid") tokens name. Empty matches every token
	// whose algorithm fits the key, with a kid or without.
	ID string
	// Key is a []byte secret (HS256), *rsa.PublicKey (RS256),
	// *ecdsa.PublicKey on P-256 (ES256) or ed25519.PublicKey (EdDSA).
	// The algorithm follows from it.
	Key any
}

// algorithm returns the algorithm of k's key, or "".
func (k Key) algorithm() string {
	switch key := k.Key.(type) {
	case []byte:
		if len(key) > 0 {
			return HS256
		}
	case *rsa.PublicKey:
		return RS256
	case *ecdsa.PublicKey:
		if key.Curve == elliptic.P256() {
			return ES256
		}
	case ed25519.PublicKey:
		if len(key) == ed25519.PublicKeySize {
			return EdDSA
		}
	}
	return ""
}

// Verifier checks JWTs and returns the identity they carry. Keys or
// JWKSURL (or both) must be set; every other field has a useful zero
// value. Fields must not be changed after the first Verify. A Verifier is
// safe for concurrent use.
type Verifier struct {
	// Keys are the static verification keys.
	Keys []Key
	// JWKSURL is the address of a JSON Web Key Set with more keys (RSA,
	// EC P-256 and Ed25519 public keys), fetched on first use. Empty
	// means none.
	JWKSURL string
	// HTTPClient fetches JWKSURL. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// JWKSMaxAge is how long fetched keys are used before they are
	// fetched again. Zero means DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// JWKSMinRefresh is the least time between two fetches, which a
	// token naming an unknown key would otherwise cause. Zero means
	// DefaultJWKSMinRefresh.
	JWKSMinRefresh time.Duration
	// Issuer, when set, is the iss a token must have.
	Issuer string
	// Audience, when set, must be one of a token's aud.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat; the
	// identity expires Leeway after exp. Zero means DefaultLeeway; a
	// negative value allows none.
	Leeway time.Duration
	// RequireExpiry refuses tokens without exp.
	RequireExpiry bool
	// Claim names the claim with the "subscribe" and "publish" pattern
	// lists. Empty means DefaultClaim.
	Claim string
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	once   sync.Once
	parser *jwtlib.Parser
	jwks   jwksCache
}

func (v *Verifier) leeway() time.Duration {
	switch {
	case v.Leeway == 0:
		return DefaultLeeway
	case v.Leeway < 0:
		return 0
	}
	return v.Leeway
}

func (v *Verifier) claim() string {
	if v.Claim == "" {
		return DefaultClaim
	}
	return v.Claim
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) init() {
	v.once.Do(func() {
		opts := []jwtlib.ParserOption{
			jwtlib.WithLeeway(v.leeway()),
			jwtlib.WithIssuedAt(),
			jwtlib.WithTimeFunc(v.now),
		}
		if v.Issuer != "" {
			opts = append(opts, jwtlib.WithIssuer(v.Issuer))
		}
		if v.Audience != "" {
			opts = append(opts, jwtlib.WithAudience(v.Audience))
		}
		if v.RequireExpiry {
			opts = append(opts, jwtlib.WithExpirationRequired())
		}
		v.parser = jwtlib.NewParser(opts...)
		v.jwks.v = v
	})
}

// Verify checks token and returns its identity. It has the signature of
// auth.Bearer.Verify. A token that is not valid is refused with an error
// wrapping auth.ErrUnauthenticated; when the keys cannot be fetched the
// error does not wrap it.
func (v *Verifier) Verify(ctx context.Context, token string) (*auth.Identity, error) {
	v.init()
	var claims jwtlib.MapClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwtlib.Token) (any, error) {
		return v.key(ctx, t)
	})
	if err != nil {
		return nil, refusal(err)
	}
	return v.identity(claims)
}

// key finds the key of t: a static key whose ID and algorithm match, else
// one from the JWKS.
func (v *Verifier) key(ctx context.Context, t *jwtlib.Token) (any, error) {
	alg := t.Method.Alg()
	switch alg {
	case HS256, RS256, ES256, EdDSA:
	default:
		return nil, errAlgorithm // "none" among others
	}
	kid, _ := t.Header["kid"].(string)
	for _, k := range v.Keys {
		if k.algorithm() == alg && (k.ID == "" || k.ID == kid) {
			return k.Key, nil
		}
	}
	if v.JWKSURL == "" {
		return nil, errUnknownKey
	}
	return v.jwks.key(ctx, kid, alg)
}

// errAlgorithm: the token's algorithm is not one of the four.
var errAlgorithm = errors.New("algorithm not allowed")

// errUnknownKey: no key has the token's ID and algorithm.
var errUnknownKey = errors.New("unknown key")

// errJWKS wraps a failed JWKS fetch: the token could not be checked.
var errJWKS = errors.New("jwt: JWKS unavailable")

// refusal turns a parse error into the error Verify returns.
func refusal(err error) error {
	if errors.Is(err, errJWKS) {
		return err // not the token's fault: 503
	}
	reasons := []struct {
		err    error
		reason string
	}{
		{jwtlib.ErrTokenExpired, ""},
		{jwtlib.ErrTokenNotValidYet, "token not valid yet"},
		{jwtlib.ErrTokenUsedBeforeIssued, "token not valid yet"},
		{jwtlib.ErrTokenInvalidAudience, "wrong audience"},
		{jwtlib.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwtlib.ErrTokenRequiredClaimMissing, "a required claim is missing"},
		{errAlgorithm, "algorithm not allowed"},
		{errUnknownKey, "unknown key"},
		{jwtlib.ErrTokenSignatureInvalid, "bad signature"},
		{jwtlib.ErrTokenMalformed, "malformed token"},
		{jwtlib.ErrTokenUnverifiable, "algorithm not allowed"},
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			if r.reason == "" {
				return fmt.Errorf("%w: token expired", auth.ErrExpired)
			}
			return fmt.Errorf("%w: %s", auth.ErrUnauthenticated, r.reason)
		}
	}
	return fmt.Errorf("%w: invalid token", auth.ErrUnauthenticated)
}

// identity builds the identity of verified claims.
func (v *Verifier) identity(c jwtlib.MapClaims) (*auth.Identity, error) {
	id := &auth.Identity{Claims: c}
	sub, err := c.GetSubject()
	if err != nil {
		return nil, badClaim("sub is not a string")
	}
	id.Subject = sub
	exp, err := c.GetExpirationTime()
	if err != nil {
		return nil, badClaim("exp is not a number")
	}
	if exp != nil {
		id.Expires = exp.Add(v.leeway())
	}
	id.Subscribe, id.Publish, err = Patterns(c[v.claim()])
	if err != nil {
		return nil, err
	}
	return id, nil
}

func badClaim(why string) error {
	return fmt.Errorf("%w: bad claim: %s", auth.ErrUnauthenticated, why)
}

// Patterns reads a topic claim, {"subscribe": [...], "publish": [...]} as
// decoded by encoding/json, and checks every pattern with
// auth.ValidatePattern. A nil claim grants nothing. A claim of another
// shape, or with a pattern that is not valid, is an error wrapping
// auth.ErrUnauthenticated.
func Patterns(claim any) (subscribe, publish []string, err error) {
	if claim == nil {
		return nil, nil, nil
	}
	m, ok := claim.(map[string]any)
	if !ok {
		return nil, nil, badClaim("the topic claim is not an object")
	}
	if subscribe, err = patternList(m, "subscribe"); err != nil {
		return nil, nil, err
	}
	if publish, err = patternList(m, "publish"); err != nil {
		return nil, nil, err
	}
	return subscribe, publish, nil
}

// maxPatterns bounds the patterns of one list.
const maxPatterns = 1000

func patternList(m map[string]any, name string) ([]string, error) {
	raw, ok := m[name]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, badClaim(name + " is not a list")
	}
	if len(list) > maxPatterns {
		return nil, badClaim(fmt.Sprintf("%s has more than %d patterns", name, maxPatterns))
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		s, ok := p.(string)
		if !ok {
			return nil, badClaim(name + " holds a pattern that is not a string")
		}
		if err := auth.ValidatePattern(s); err != nil {
			return nil, badClaim(fmt.Sprintf("%s: %v", name, err))
		}
		out = append(out, s)
	}
	return out, nil
}
