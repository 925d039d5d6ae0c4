package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// maxJWKS bounds the size of a JWKS document.
const maxJWKS = 1 << 20

// jwksCache holds the keys of a Verifier's JWKSURL.
type jwksCache struct {
	v *Verifier

	mu      sync.Mutex // held during a fetch: one fetch at a time
	keys    []Key
	fetched time.Time // of the last successful fetch
	tried   time.Time // of the last attempt
}

// key returns the key named kid for alg, fetching the set when it is
// stale or does not have it (at most every JWKSMinRefresh).
func (c *jwksCache) key(ctx context.Context, kid, alg string) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.v.now()
	maxAge, minRefresh := c.v.JWKSMaxAge, c.v.JWKSMinRefresh
	if maxAge <= 0 {
		maxAge = DefaultJWKSMaxAge
	}
	if minRefresh <= 0 {
		minRefresh = DefaultJWKSMinRefresh
	}
	k, found := find(c.keys, kid, alg)
	stale := c.fetched.IsZero() || now.Sub(c.fetched) >= maxAge
	if (found && !stale) || (!c.tried.IsZero() && now.Sub(c.tried) < minRefresh) {
		if found {
			return k, nil
		}
		if c.fetched.IsZero() {
			return nil, fmt.Errorf("%w: no keys fetched yet", errJWKS)
		}
		return nil, errUnknownKey
	}
	c.tried = now
	keys, err := c.fetch(ctx)
	if err != nil {
		if found {
			return k, nil // stale keys beat none while the server is down
		}
		return nil, fmt.Errorf("%w: %w", errJWKS, err)
	}
	c.keys, c.fetched = keys, now
	if k, ok := find(keys, kid, alg); ok {
		return k, nil
	}
	return nil, errUnknownKey
}

func find(keys []Key, kid, alg string) (any, bool) {
	for _, k := range keys {
		if k.algorithm() == alg && (kid == "" || k.ID == kid) {
			return k.Key, true
		}
	}
	return nil, false
}

// jwksTimeout bounds one fetch of the key set.
const jwksTimeout = 10 * time.Second

func (c *jwksCache) fetch(ctx context.Context) ([]Key, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.v.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	hc := c.v.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", c.v.JWKSURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKS {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", c.v.JWKSURL, maxJWKS)
	}
	return ParseJWKS(body)
}

// A jwk is one key of a JWKS (RFC 7517, RFC 7518, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JSON Web Key Set and returns its signature keys that a
// Verifier can use: RSA, EC P-256 and OKP Ed25519 public keys. Keys for
// encryption ("use": "enc"), of other types or curves, or whose alg is
// not the one their type implies are left out; a key that claims to be
// usable but cannot be decoded is an error, as is a document that is not
// a key set.
func ParseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwt: JWKS: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("jwt: JWKS: no keys member")
	}
	var keys []Key
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("jwt: JWKS key %d: %w", i, err)
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k, err := j.key()
		if err != nil {
			return nil, fmt.Errorf("jwt: JWKS key %d (kid %q): %w", i, j.Kid, err)
		}
		if k.Key == nil || (j.Alg != "" && j.Alg != k.algorithm()) {
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (j *jwk) key() (Key, error) {
	k := Key{ID: j.Kid}
	switch {
	case j.Kty == "RSA":
		n, err := b64int(j.N)
		if err != nil {
			return k, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(j.E)
		if err != nil {
			return k, fmt.Errorf("e: %w", err)
		}
		if n.BitLen() < 2048 {
			return k, fmt.Errorf("RSA modulus of %d bits; at least 2048 needed", n.BitLen())
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return k, errors.New("bad RSA exponent")
		}
		k.Key = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case j.Kty == "EC" && j.Crv == "P-256":
		x, err := b64bytes(j.X, 32)
		if err != nil {
			return k, fmt.Errorf("x: %w", err)
		}
		y, err := b64bytes(j.Y, 32)
		if err != nil {
			return k, fmt.Errorf("y: %w", err)
		}
		// The uncompressed point; ParseUncompressedPublicKey checks that
		// it is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, err
		}
		k.Key = pub
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64bytes(j.X, ed25519.PublicKeySize)
		if err != nil {
			return k, fmt.Errorf("x: %w", err)
		}
		k.Key = ed25519.PublicKey(x)
	}
	return k, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64bytes(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), n)
	}
	return b, nil
}
