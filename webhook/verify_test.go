package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignGolden(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{swSecret, strings.TrimPrefix(swSecret, SecretPrefix)} {
		s, err := ParseSecret(secret)
		require.NoError(t, err)
		sig, err := Sign(Secrets(s), swID, time.Unix(swTimestamp, 0), []byte(swBody))
		require.NoError(t, err)
		assert.Equal(t, swSignature, sig)
	}
}

func TestVerifyGolden(t *testing.T) {
	t.Parallel()
	now := time.Unix(swTimestamp, 0)
	valid := swSignature
	decoy := "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	tests := []struct {
		name string
		sig  string
		ok   bool
	}{
		{"valid", valid, true},
		{"decoys around valid", decoy + " v2," + valid[3:] + " " + valid + " " + decoy, true},
		{"unknown version with valid mac", "v2," + valid[3:], false},
		{"decoys alone", decoy + " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", false},
		{"last char changed", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", false},
		{"empty mac", "v1,", false},
		{"truncated", valid[:20], false},
		{"not base64", "v1,!!!!", false},
		{"v1a against hmac key", "v1a," + valid[3:], false},
		{"no comma", "v1" + valid[3:], false},
		{"too many signatures", strings.Repeat(decoy+" ", DefaultMaxSignatures) + valid, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(swKeys(t), swHeader(swID, swTimestamp, tc.sig), []byte(swBody), now, 0)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrNoMatchingSignature)
			}
		})
	}
}

func TestVerifyTamper(t *testing.T) {
	t.Parallel()
	now := time.Unix(swTimestamp, 0)
	tests := []struct {
		name     string
		id, body string
		ts       int64
	}{
		{"body", swID, `{"test": 2432232315}`, swTimestamp},
		{"body whitespace", swID, `{"test":2432232314}`, swTimestamp},
		{"id", swID + "x", swBody, swTimestamp},
		{"timestamp", swID, swBody, swTimestamp + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(swKeys(t), swHeader(tc.id, tc.ts, swSignature), []byte(tc.body), now, 0)
			assert.ErrorIs(t, err, ErrNoMatchingSignature)
		})
	}
}

func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	ts := time.Unix(swTimestamp, 0)
	tests := []struct {
		name string
		now  time.Time
		err  error
	}{
		{"exact", ts, nil},
		{"300 s late", ts.Add(300 * time.Second), nil},
		{"301 s late", ts.Add(301 * time.Second), ErrTooOld},
		{"300 s early", ts.Add(-300 * time.Second), nil},
		{"301 s early", ts.Add(-301 * time.Second), ErrTooNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(swKeys(t), swHeader(swID, swTimestamp, swSignature), []byte(swBody), tc.now, 0)
			if tc.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.err)
			}
		})
	}
	// A custom tolerance moves the edges.
	err := Verify(swKeys(t), swHeader(swID, swTimestamp, swSignature), []byte(swBody), ts.Add(61*time.Second), time.Minute)
	assert.ErrorIs(t, err, ErrTooOld)
}

func TestVerifyMalformedTimestamp(t *testing.T) {
	t.Parallel()
	now := time.Unix(swTimestamp, 0)
	for _, ts := range []string{"abc", "+1614265330", "-1614265330", " 1614265330", "1614265330 ", "1.6e9", "1614265330.0", "0x60374f72", "16142653300000000"} {
		t.Run(ts, func(t *testing.T) {
			t.Parallel()
			h := swHeader(swID, 0, swSignature)
			h.Set(HeaderTimestamp, ts)
			err := Verify(swKeys(t), h, []byte(swBody), now, 0)
			assert.ErrorIs(t, err, ErrInvalidHeaders)
		})
	}
	t.Run("milliseconds", func(t *testing.T) {
		t.Parallel()
		h := swHeader(swID, swTimestamp*1000, swSignature) // 13 digits: refused as malformed
		assert.ErrorIs(t, Verify(swKeys(t), h, []byte(swBody), now, 0), ErrInvalidHeaders)
		h = swHeader(swID, swTimestamp*10, swSignature) // 11 digits: far in the future
		assert.ErrorIs(t, Verify(swKeys(t), h, []byte(swBody), now, 0), ErrTooNew)
	})
}

func TestVerifyMissingHeaders(t *testing.T) {
	t.Parallel()
	now := time.Unix(swTimestamp, 0)
	for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		h := swHeader(swID, swTimestamp, swSignature)
		h.Del(name)
		assert.ErrorIs(t, Verify(swKeys(t), h, []byte(swBody), now, 0), ErrMissingHeaders, name)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, err := GenerateSecret()
	require.NoError(t, err)
	newKey, err := GenerateSecret()
	require.NoError(t, err)
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)

	ring := Keyring{{Secret: newKey}, {Secret: oldKey, NotAfter: now.Add(time.Hour)}}
	sig, err := Sign(ring, "msg_1", now, body)
	require.NoError(t, err)
	assert.Len(t, strings.Fields(sig), 2, "two keys, two signatures")
	h := swHeader("msg_1", now.Unix(), sig)
	assert.NoError(t, Verify(Secrets(oldKey), h, body, now, 0), "receiver with the old key")
	assert.NoError(t, Verify(Secrets(newKey), h, body, now, 0), "receiver with the new key")

	// After NotAfter the old key neither signs nor verifies.
	later := now.Add(2 * time.Hour)
	sig, err = Sign(ring, "msg_1", later, body)
	require.NoError(t, err)
	assert.Len(t, strings.Fields(sig), 1)
	h = swHeader("msg_1", later.Unix(), sig)
	assert.ErrorIs(t, Verify(Secrets(oldKey), h, body, later, 0), ErrNoMatchingSignature)
	assert.NoError(t, Verify(ring, h, body, later, 0))
}

func TestEd25519(t *testing.T) {
	t.Parallel()
	priv, err := GenerateSigningKey()
	require.NoError(t, err)
	hmacKey, err := GenerateSecret()
	require.NoError(t, err)
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	sig, err := Sign(Keyring{{PrivateKey: priv}, {Secret: hmacKey}}, "msg_2", now, body)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sig, "v1a,"), sig)
	h := swHeader("msg_2", now.Unix(), strings.Fields(sig)[0])

	pub, err := ParsePublicKey(EncodePublicKey(priv.Public().(ed25519.PublicKey)))
	require.NoError(t, err)
	assert.NoError(t, Verify(Keyring{{PublicKey: pub}}, h, body, now, 0))
	assert.ErrorIs(t, Verify(Keyring{{PublicKey: pub}}, h, []byte(`{"a":2}`), now, 0), ErrNoMatchingSignature)
	// An HMAC key never accepts a v1a signature.
	assert.ErrorIs(t, Verify(Secrets(hmacKey), h, body, now, 0), ErrNoMatchingSignature)

	back, err := ParseSigningKey(EncodeSigningKey(priv))
	require.NoError(t, err)
	assert.Equal(t, priv, back)
	seedOnly := SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed())
	back, err = ParseSigningKey(seedOnly)
	require.NoError(t, err)
	assert.Equal(t, priv, back)
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := GenerateSecret()
	require.NoError(t, err)
	assert.Len(t, s, 32)
	back, err := ParseSecret(s.Encode())
	require.NoError(t, err)
	assert.Equal(t, s, back)
	assert.NotContains(t, s.String(), s.Encode()[len(SecretPrefix):], "String must not reveal the key")
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "not base64?"} {
		_, err := ParseSecret(bad)
		assert.ErrorIs(t, err, ErrInvalidSecret, bad)
	}
	_, err = Sign(Keyring{}, "msg_1", time.Now(), nil)
	assert.ErrorIs(t, err, ErrNoKeys)
	for _, id := range []string{"", "a.b", "a b", strings.Repeat("a", MaxIDLen+1)} {
		_, err = Sign(Secrets(s), id, time.Now(), nil)
		assert.ErrorIs(t, err, ErrInvalidID, id)
	}
}

// The v1a vector of the reference Go library's Ed25519 proposal: a 32-byte
// seed, the SW-1 id, timestamp and payload.
func TestEd25519Golden(t *testing.T) {
	t.Parallel()
	const want = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
	for _, s := range []string{"VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=", "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="} {
		priv, err := ParseSigningKey(s)
		require.NoError(t, err)
		sig, err := Sign(Keyring{{PrivateKey: priv}}, swID, time.Unix(swTimestamp, 0), []byte(swBody))
		require.NoError(t, err)
		assert.Equal(t, want, sig)
		pub := Keyring{{PublicKey: priv.Public().(ed25519.PublicKey)}}
		assert.NoError(t, Verify(pub, swHeader(swID, swTimestamp, want), []byte(swBody), time.Unix(swTimestamp, 0), 0))
	}
}
