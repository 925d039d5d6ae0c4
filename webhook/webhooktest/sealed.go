package webhooktest

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SealedStorage is one store's data as the secret-sealing suite sees it:
// Open returns a handle on it whose Secrets is c (nil: none), AtRest the
// bytes the backend keeps for an endpoint, as a dump of it would show
// them.
type SealedStorage struct {
	Open   func(c *webhook.SecretCipher) webhook.Store
	AtRest func(id string) []byte
}

// RunSealed checks a store's Secrets field (webhook.SecretCipher): no
// secret is at rest in the clear, every read opens them, a store with
// another key or none refuses to read them (webhook.ErrSealed) rather
// than answer a secret that does not sign, secrets stored in the clear
// before are read and sealed at their next write, and a rotation of the
// cipher's key reads the old seals and writes new ones, for every endpoint
// at once with webhook.ResealEndpoints. newStorage returns storage shared
// with nothing else.
func RunSealed(t *testing.T, newStorage func(tb testing.TB) SealedStorage) {
	t.Helper()
	ctx := context.Background()
	keyA, keyB := cipherKey(t), cipherKey(t)
	ca, err := webhook.NewSecretCipher(keyA)
	require.NoError(t, err)
	cb, err := webhook.NewSecretCipher(keyB)
	require.NoError(t, err)
	rotated, err := webhook.NewSecretCipher(keyB, keyA)
	require.NoError(t, err)

	st := newStorage(t)
	plain := Config("sealed")
	plain.Secrets = append(plain.Secrets, webhook.SecretConfig{Secret: "whsec_" + strings.Repeat("QUJD", 8)})
	plain.Headers = map[string]string{"Authorization": "Bearer receiver-token-5f1d"}
	put, err := st.Open(ca).PutEndpoint(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, plain.Secrets, put.Secrets, "PutEndpoint answers the secrets in the clear")
	assert.Equal(t, plain.Headers, put.Headers)
	raw := string(st.AtRest("sealed"))
	require.NotEmpty(t, raw, "the endpoint is stored")
	for _, s := range plain.Secrets {
		body := strings.TrimPrefix(s.Secret, "whsec_")
		assert.NotContains(t, raw, body, "a secret at rest in the clear")
	}
	assert.NotContains(t, raw, "receiver-token-5f1d", "a header value at rest in the clear")
	assert.Contains(t, raw, webhook.SealedPrefix)

	got, err := st.Open(ca).GetEndpoint(ctx, "sealed")
	require.NoError(t, err)
	assert.Equal(t, plain.Secrets, got.Secrets)
	assert.Equal(t, plain.Headers, got.Headers)
	_, err = got.Endpoint()
	assert.NoError(t, err, "the opened secrets sign")
	list, err := st.Open(ca).ListEndpoints(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, plain.Secrets, list[0].Secrets)

	for name, c := range map[string]*webhook.SecretCipher{"another key": cb, "no cipher": nil} {
		_, err = st.Open(c).GetEndpoint(ctx, "sealed")
		assert.ErrorIs(t, err, webhook.ErrSealed, name)
		_, err = st.Open(c).ListEndpoints(ctx)
		assert.ErrorIs(t, err, webhook.ErrSealed, name)
	}

	// The key rotates: the old seal opens, the next write seals anew.
	got, err = st.Open(rotated).GetEndpoint(ctx, "sealed")
	require.NoError(t, err)
	assert.Equal(t, plain.Secrets, got.Secrets)
	got.Description = "written again"
	_, err = st.Open(rotated).PutEndpoint(ctx, got)
	require.NoError(t, err)
	got, err = st.Open(cb).GetEndpoint(ctx, "sealed")
	require.NoError(t, err, "sealed under the new key")
	assert.Equal(t, plain.Secrets, got.Secrets)
	_, err = st.Open(ca).GetEndpoint(ctx, "sealed")
	assert.ErrorIs(t, err, webhook.ErrSealed, "no longer under the old key")

	// ResealEndpoints moves every endpoint to the first key at once.
	other := Config("other")
	_, err = st.Open(ca).PutEndpoint(ctx, other)
	require.NoError(t, err)
	n, err := webhook.ResealEndpoints(ctx, st.Open(rotated))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	list, err = st.Open(cb).ListEndpoints(ctx)
	require.NoError(t, err, "every endpoint opens with the new key alone")
	assert.Len(t, list, 2)
	require.NoError(t, st.Open(cb).DeleteEndpoint(ctx, "other"))

	// Secrets stored in the clear before a cipher was set.
	legacy := Config("legacy")
	_, err = st.Open(nil).PutEndpoint(ctx, legacy)
	require.NoError(t, err)
	assert.Contains(t, string(st.AtRest("legacy")), strings.TrimPrefix(Secret, "whsec_"))
	got, err = st.Open(ca).GetEndpoint(ctx, "legacy")
	require.NoError(t, err)
	assert.Equal(t, legacy.Secrets, got.Secrets, "read as it is")
	_, err = st.Open(ca).PutEndpoint(ctx, got)
	require.NoError(t, err)
	assert.NotContains(t, string(st.AtRest("legacy")), strings.TrimPrefix(Secret, "whsec_"), "sealed at its next write")
	got, err = st.Open(ca).GetEndpoint(ctx, "legacy")
	require.NoError(t, err)
	assert.Equal(t, legacy.Secrets, got.Secrets)
}

// cipherKey returns a new random key for a SecretCipher.
func cipherKey(tb testing.TB) []byte {
	k := make([]byte, webhook.SecretCipherKeySize)
	_, err := rand.Read(k)
	require.NoError(tb, err)
	return k
}
