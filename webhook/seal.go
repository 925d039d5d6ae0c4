package webhook

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// SealedPrefix starts a secret sealed by a SecretCipher, as a store keeps
// it: "whenc_<key ID>_<base64url of nonce and ciphertext>".
const SealedPrefix = "whenc_"

// SecretCipherKeySize is the size of a SecretCipher key: AES-256.
const SecretCipherKeySize = 32

// ErrSealed means a sealed secret cannot be opened: no key of the
// SecretCipher sealed it, it was changed, it belongs to another endpoint,
// or the store has no SecretCipher.
var ErrSealed = errors.New("webhook: cannot open sealed secret")

// A SecretCipher seals endpoint secrets for storage, so that a copy of
// the database (a backup, a replica, a leaked dump) holds no secret in
// the clear: the signing secrets and the values of the extra headers
// (which often carry credentials of the receiver, like Authorization).
// It uses AES-256-GCM under its first key, with the endpoint's ID (and a
// header's name) as additional data, so a sealed value copied into
// another endpoint's configuration, or under another header, does not
// open. It opens what any of its keys sealed: to rotate, put a new key
// first and keep the old ones until every endpoint has been written again
// (every change of an endpoint, a rotation of its secret included, seals
// it anew under the first key; [ResealEndpoints] writes them all at
// once). Values stored before a cipher was set are read as they are and
// sealed at their next write.
//
// The Redis and PostgreSQL stores take one in their Secrets field. The
// keys belong in a secret manager, not beside the database. A
// SecretCipher is safe for concurrent use.
type SecretCipher struct {
	keys []sealKey
}

type sealKey struct {
	id   string // hex of the first 4 bytes of the key's SHA-256
	aead cipher.AEAD
}

// NewSecretCipher returns a SecretCipher with keys, each
// SecretCipherKeySize random bytes; the first seals. It fails without a
// key, with a key of another size, or with the same key twice.
func NewSecretCipher(keys ...[]byte) (*SecretCipher, error) {
	if len(keys) == 0 {
		return nil, errors.New("webhook: NewSecretCipher needs a key")
	}
	c := &SecretCipher{}
	for i, k := range keys {
		if len(k) != SecretCipherKeySize {
			return nil, fmt.Errorf("webhook: secret cipher key %d is %d bytes, not %d", i, len(k), SecretCipherKeySize)
		}
		sum := sha256.Sum256(k)
		id := hex.EncodeToString(sum[:4])
		for _, o := range c.keys {
			if o.id == id {
				return nil, fmt.Errorf("webhook: secret cipher key %d is given twice", i)
			}
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		c.keys = append(c.keys, sealKey{id: id, aead: aead})
	}
	return c, nil
}

// Seal returns a copy of cfg whose secrets and header values are sealed
// under c's first key; values sealed already are sealed anew (under the
// first key). A nil c returns cfg unchanged.
func (c *SecretCipher) Seal(cfg EndpointConfig) (EndpointConfig, error) {
	if c == nil || len(cfg.Secrets) == 0 && len(cfg.Headers) == 0 {
		return cfg, nil
	}
	out := cfg.Clone()
	var err error
	for i, s := range out.Secrets {
		if out.Secrets[i].Secret, err = c.seal(cfg.ID, s.Secret); err != nil {
			return EndpointConfig{}, err
		}
	}
	for name, v := range out.Headers {
		if out.Headers[name], err = c.seal(headerData(cfg.ID, name), v); err != nil {
			return EndpointConfig{}, err
		}
	}
	return out, nil
}

// Open returns a copy of cfg whose sealed secrets and header values are
// opened; values in the clear are left as they are. A sealed value that
// does not open (see ErrSealed), or any sealed value when c is nil, is an
// error that wraps ErrSealed.
func (c *SecretCipher) Open(cfg EndpointConfig) (EndpointConfig, error) {
	sealed := false
	for _, s := range cfg.Secrets {
		sealed = sealed || strings.HasPrefix(s.Secret, SealedPrefix)
	}
	for _, v := range cfg.Headers {
		sealed = sealed || strings.HasPrefix(v, SealedPrefix)
	}
	if !sealed {
		return cfg, nil
	}
	if c == nil {
		return EndpointConfig{}, fmt.Errorf("%w: endpoint %q has sealed secrets and the store no SecretCipher", ErrSealed, trunc(cfg.ID))
	}
	out := cfg.Clone()
	var err error
	for i, s := range out.Secrets {
		if strings.HasPrefix(s.Secret, SealedPrefix) {
			if out.Secrets[i].Secret, err = c.open(cfg.ID, s.Secret); err != nil {
				return EndpointConfig{}, err
			}
		}
	}
	for name, v := range out.Headers {
		if strings.HasPrefix(v, SealedPrefix) {
			if out.Headers[name], err = c.open(headerData(cfg.ID, name), v); err != nil {
				return EndpointConfig{}, err
			}
		}
	}
	return out, nil
}

// headerData is the additional data of the header name of the endpoint
// id: its ID and the name, which no endpoint ID contains a NUL of.
func headerData(id, name string) string {
	return id + "\x00" + http.CanonicalHeaderKey(name)
}

// sealedWhat names the value of the additional data id in errors.
func sealedWhat(id string) string {
	if ep, header, ok := strings.Cut(id, "\x00"); ok {
		return fmt.Sprintf("endpoint %q, header %q", trunc(ep), trunc(header))
	}
	return fmt.Sprintf("endpoint %q", trunc(id))
}

// seal seals value (opening it first when it is sealed) under the first
// key, with data as additional data.
func (c *SecretCipher) seal(data, value string) (string, error) {
	if strings.HasPrefix(value, SealedPrefix) {
		var err error
		if value, err = c.open(data, value); err != nil {
			return "", err
		}
	}
	k := c.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(value)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := k.aead.Seal(nonce, nonce, []byte(value), []byte(data))
	return SealedPrefix + k.id + "_" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open opens one sealed value whose additional data is id (the endpoint's
// ID, with a header's name for a header).
func (c *SecretCipher) open(id, sealed string) (string, error) {
	keyID, body, ok := strings.Cut(strings.TrimPrefix(sealed, SealedPrefix), "_")
	if !ok {
		return "", fmt.Errorf("%w: %s: malformed", ErrSealed, sealedWhat(id))
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", fmt.Errorf("%w: %s: malformed", ErrSealed, sealedWhat(id))
	}
	for _, k := range c.keys {
		if k.id != keyID {
			continue
		}
		n := k.aead.NonceSize()
		if len(raw) < n+k.aead.Overhead() {
			return "", fmt.Errorf("%w: %s: malformed", ErrSealed, sealedWhat(id))
		}
		plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(id))
		if err != nil {
			return "", fmt.Errorf("%w: %s: changed, or sealed for another endpoint", ErrSealed, sealedWhat(id))
		}
		return string(plain), nil
	}
	return "", fmt.Errorf("%w: %s: sealed under key %s, which the cipher does not have", ErrSealed, sealedWhat(id), trunc(keyID))
}

// ResealEndpoints writes every endpoint of r back unchanged, so that a
// store with a SecretCipher seals them all under its first key: the step
// of a key rotation between putting the new key first and dropping the
// old one. Each write is an update like any other (its version goes up,
// and Dispatchers following r restart the endpoint from its cursor); an
// endpoint changed meanwhile was sealed by that change and is left alone.
// It returns how many it wrote.
func ResealEndpoints(ctx context.Context, r Registry) (int, error) {
	list, err := r.ListEndpoints(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		switch _, err := r.PutEndpoint(ctx, c); {
		case err == nil:
			n++
		case errors.Is(err, ErrConflict), errors.Is(err, ErrEndpointNotFound):
			// Changed or deleted meanwhile: written by that change.
		default:
			return n, fmt.Errorf("webhook: reseal %q: %w", c.ID, err)
		}
	}
	return n, nil
}
