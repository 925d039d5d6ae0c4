package webhook_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/webhook"
)

func sealKey(b byte) []byte { return bytes.Repeat([]byte{b}, webhook.SecretCipherKeySize) }

func sealConfig(id string) webhook.EndpointConfig {
	return webhook.EndpointConfig{ID: id, URL: "https://shop.example/hooks", Topic: "orders",
		Secrets: []webhook.SecretConfig{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, {Secret: "whsec_QUJDQUJDQUJDQUJD"}},
		Headers: map[string]string{"Authorization": "Bearer tok-9d2e", "X-Tenant": "shop"}}
}

// Seal hides every secret under the first key, leaves the rest of the
// configuration and its argument alone, and Open gives the secrets back;
// two seals of one secret differ (a fresh nonce each).
func TestSecretCipherRoundTrip(t *testing.T) {
	c, err := webhook.NewSecretCipher(sealKey(1))
	require.NoError(t, err)
	cfg := sealConfig("ep_1")
	sealed, err := c.Seal(cfg)
	require.NoError(t, err)
	assert.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", cfg.Secrets[0].Secret, "the argument is not changed")
	for i, s := range sealed.Secrets {
		assert.True(t, strings.HasPrefix(s.Secret, webhook.SealedPrefix), s.Secret)
		assert.NotContains(t, s.Secret, strings.TrimPrefix(cfg.Secrets[i].Secret, "whsec_"))
	}
	for name, v := range sealed.Headers {
		assert.True(t, strings.HasPrefix(v, webhook.SealedPrefix), name)
		assert.NotContains(t, v, cfg.Headers[name])
	}
	assert.Equal(t, "Bearer tok-9d2e", cfg.Headers["Authorization"], "the argument is not changed")
	assert.Equal(t, cfg.URL, sealed.URL)
	again, err := c.Seal(cfg)
	require.NoError(t, err)
	assert.NotEqual(t, sealed.Secrets[0].Secret, again.Secrets[0].Secret)

	opened, err := c.Open(sealed)
	require.NoError(t, err)
	assert.Equal(t, cfg, opened)
	_, err = opened.Endpoint()
	assert.NoError(t, err)
	_, err = sealed.Endpoint()
	assert.ErrorIs(t, err, webhook.ErrInvalidEndpoint, "a sealed secret does not sign")

	resealed, err := c.Seal(sealed)
	require.NoError(t, err, "sealing a sealed secret seals it anew")
	opened, err = c.Open(resealed)
	require.NoError(t, err)
	assert.Equal(t, cfg.Secrets, opened.Secrets)
}

// A seal opens only with its key, for its endpoint, unchanged; a nil
// cipher seals nothing and opens nothing sealed; a rotation keeps the old
// key to open and seals with the new one.
func TestSecretCipherRefuses(t *testing.T) {
	a, err := webhook.NewSecretCipher(sealKey(1))
	require.NoError(t, err)
	b, err := webhook.NewSecretCipher(sealKey(2))
	require.NoError(t, err)
	sealed, err := a.Seal(sealConfig("ep_1"))
	require.NoError(t, err)

	_, err = b.Open(sealed)
	assert.ErrorIs(t, err, webhook.ErrSealed, "another key")
	moved := sealed.Clone()
	moved.ID = "ep_2"
	_, err = a.Open(moved)
	assert.ErrorIs(t, err, webhook.ErrSealed, "moved to another endpoint")
	swapped := sealed.Clone()
	swapped.Headers["X-Tenant"] = sealed.Headers["Authorization"]
	_, err = a.Open(swapped)
	assert.ErrorIs(t, err, webhook.ErrSealed, "moved under another header")
	assert.Contains(t, err.Error(), `header "X-Tenant"`)
	for _, tamper := range []func(string) string{
		func(s string) string { return s[:len(s)-2] + "AA" },
		func(s string) string { return s[:len(webhook.SealedPrefix)+12] },
		func(s string) string { // no separator between key and body
			return webhook.SealedPrefix + strings.Replace(strings.TrimPrefix(s, webhook.SealedPrefix), "_", "", 1)
		},
		func(s string) string { return webhook.SealedPrefix + "00000000_" + strings.SplitN(s, "_", 3)[2] }, // another key ID
		func(s string) string { return s + "%" },
	} {
		bad := sealed.Clone()
		bad.Secrets[0].Secret = tamper(sealed.Secrets[0].Secret)
		_, err = a.Open(bad)
		assert.ErrorIs(t, err, webhook.ErrSealed, bad.Secrets[0].Secret)
	}

	var none *webhook.SecretCipher
	same, err := none.Seal(sealConfig("ep_1"))
	require.NoError(t, err)
	assert.Equal(t, sealConfig("ep_1"), same)
	_, err = none.Open(sealed)
	assert.ErrorIs(t, err, webhook.ErrSealed)
	clear, err := none.Open(sealConfig("ep_1"))
	require.NoError(t, err, "secrets in the clear need no cipher")
	assert.Equal(t, sealConfig("ep_1"), clear)

	rotated, err := webhook.NewSecretCipher(sealKey(2), sealKey(1))
	require.NoError(t, err)
	opened, err := rotated.Open(sealed)
	require.NoError(t, err, "the old key still opens")
	assert.Equal(t, sealConfig("ep_1").Secrets, opened.Secrets)
	resealed, err := rotated.Seal(sealed)
	require.NoError(t, err)
	_, err = b.Open(resealed)
	assert.NoError(t, err, "sealed under the new key")
	_, err = a.Open(resealed)
	assert.ErrorIs(t, err, webhook.ErrSealed)

	for _, keys := range [][][]byte{nil, {sealKey(1)[:16]}, {sealKey(1), sealKey(1)}} {
		_, err := webhook.NewSecretCipher(keys...)
		assert.Error(t, err, "%d keys", len(keys))
	}
}
