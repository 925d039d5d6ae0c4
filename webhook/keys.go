package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Prefixes of the Standard Webhooks key strings.
const (
	SecretPrefix     = "whsec_" // HMAC-SHA256 secret (v1)
	SigningKeyPrefix = "whsk_"  // Ed25519 private key (v1a), base64(seed ‖ public)
	PublicKeyPrefix  = "whpk_"  // Ed25519 public key (v1a)
)

// A Secret is a symmetric HMAC key: the raw bytes that key HMAC-SHA256.
//
// Its String method never prints the key, so a Secret can be logged by
// mistake without leaking; use Encode for the whsec_ form.
type Secret []byte

// ParseSecret decodes a Standard Webhooks secret, "whsec_" followed by the
// standard base64 of the key bytes. The prefix is optional, as in every
// reference library.
func ParseSecret(s string) (Secret, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not base64", ErrInvalidSecret)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty secret", ErrInvalidSecret)
	}
	return Secret(b), nil
}

// RawSecret returns the bytes of s as a Secret, unchanged. Stripe and
// GitHub key their HMACs with the secret string as it is (a Stripe
// "whsec_…" secret is not base64-decoded), so use RawSecret for them.
func RawSecret(s string) Secret { return Secret(s) }

// GenerateSecret returns a new random 32-byte secret.
func GenerateSecret() (Secret, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return Secret(b), nil
}

// Encode returns the whsec_ form of s, to hand to the receiving side.
func (s Secret) Encode() string { return SecretPrefix + base64.StdEncoding.EncodeToString(s) }

// String returns a redacted placeholder; it never reveals the key.
func (s Secret) String() string { return SecretPrefix + "[redacted]" }

// GenerateSigningKey returns a new Ed25519 key pair for v1a signatures.
func GenerateSigningKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// ParseSigningKey decodes a "whsk_" Ed25519 private key: base64 of the
// 32-byte seed followed by the 32-byte public key (or of the seed alone).
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SigningKeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: signing key is not base64", ErrInvalidSecret)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if string(k[ed25519.SeedSize:]) != string(b[ed25519.SeedSize:]) {
			return nil, fmt.Errorf("%w: public half does not match the seed", ErrInvalidSecret)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: signing key has %d bytes", ErrInvalidSecret, len(b))
}

// ParsePublicKey decodes a "whpk_" Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, PublicKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key", ErrInvalidSecret)
	}
	return ed25519.PublicKey(b), nil
}

// EncodeSigningKey returns the whsk_ form of k.
func EncodeSigningKey(k ed25519.PrivateKey) string {
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// EncodePublicKey returns the whpk_ form of k.
func EncodePublicKey(k ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// A Key is one entry of a Keyring. Set Secret for HMAC-SHA256 (v1), or
// PrivateKey (signing) / PublicKey (verifying) for Ed25519 (v1a). Each key
// only signs and checks its own version, so an HMAC key can never be used to
// accept a v1a signature or the reverse.
type Key struct {
	Secret     Secret
	PrivateKey ed25519.PrivateKey
	PublicKey  ed25519.PublicKey
	// NotAfter, when set, is when the key expires: from then on it neither
	// signs nor verifies. Give an old key a NotAfter some hours ahead when
	// rotating, so receivers can switch over while both are accepted.
	NotAfter time.Time
}

func (k *Key) valid(now time.Time) bool {
	return k.NotAfter.IsZero() || now.Before(k.NotAfter)
}

func (k *Key) publicKey() ed25519.PublicKey {
	if k.PublicKey != nil {
		return k.PublicKey
	}
	if k.PrivateKey != nil {
		if pub, ok := k.PrivateKey.Public().(ed25519.PublicKey); ok {
			return pub
		}
	}
	return nil
}

// A Keyring is an ordered list of keys. The first unexpired key is the
// primary one; the Sender adds a signature for every unexpired key, and a
// verifier accepts a signature made by any unexpired key. Rotate by putting
// the new key first and giving the old one a NotAfter.
type Keyring []Key

// Secrets returns a keyring of HMAC keys, the first one primary.
func Secrets(secrets ...Secret) Keyring {
	ring := make(Keyring, len(secrets))
	for i, s := range secrets {
		ring[i] = Key{Secret: s}
	}
	return ring
}
