package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGitHubGolden(t *testing.T) {
	t.Parallel()
	secret := RawSecret("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	assert.Equal(t, want, SignGitHub(secret, body))
	now := time.Unix(1700000000, 0)
	assert.NoError(t, VerifyGitHub(Secrets(secret), want, body, now))
	assert.ErrorIs(t, VerifyGitHub(Secrets(secret), want, []byte("Hello, World?"), now), ErrNoMatchingSignature)
	assert.ErrorIs(t, VerifyGitHub(Secrets(RawSecret("other")), want, body, now), ErrNoMatchingSignature)
	assert.ErrorIs(t, VerifyGitHub(Secrets(secret), "sha1=abc", body, now), ErrNoMatchingSignature)
	assert.ErrorIs(t, VerifyGitHub(Secrets(secret), want[:len(want)-1]+"z", body, now), ErrNoMatchingSignature)
	assert.ErrorIs(t, VerifyGitHub(Secrets(secret), "", body, now), ErrMissingHeaders)
}

func TestGitHubKeyExpiry(t *testing.T) {
	t.Parallel()
	secret := RawSecret("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	sig := SignGitHub(secret, body)
	expires := time.Unix(1700000000, 0)
	tests := []struct {
		name string
		keys Keyring
		now  time.Time
		err  error
	}{
		{"before expiry", Keyring{{Secret: secret, NotAfter: expires}}, expires.Add(-time.Second), nil},
		{"at expiry", Keyring{{Secret: secret, NotAfter: expires}}, expires, ErrNoMatchingSignature},
		{"after expiry", Keyring{{Secret: secret, NotAfter: expires}}, expires.Add(time.Hour), ErrNoMatchingSignature},
		{"no expiry", Keyring{{Secret: secret}}, expires.Add(time.Hour), nil},
		{"expired old key, new key signs", Keyring{{Secret: RawSecret("new")}, {Secret: secret, NotAfter: expires}}, expires, ErrNoMatchingSignature},
		{"rotation window", Keyring{{Secret: RawSecret("new")}, {Secret: secret, NotAfter: expires}}, expires.Add(-time.Minute), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyGitHub(tc.keys, sig, body, tc.now)
			if tc.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.err)
			}
		})
	}
	// The Receiver judges expiry by its Clock too.
	var calls int
	r := &Receiver{Keys: Keyring{{Secret: secret, NotAfter: expires}}, Scheme: GitHub,
		Clock:   func() time.Time { return expires },
		Handler: func(context.Context, *Event) error { calls++; return nil }}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(HeaderGitHubSignature, sig)
	assert.Equal(t, http.StatusUnauthorized, serve(r, req).Code)
	assert.Zero(t, calls)
}

func TestStripe(t *testing.T) {
	t.Parallel()
	// Stripe keys its HMAC with the whole secret string, prefix included.
	secret := RawSecret("whsec_test_secret")
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	header := SignStripe(secret, now, body)
	assert.Equal(t, "t=1700000000,v1=", header[:16])
	assert.NoError(t, VerifyStripe(Secrets(secret), header, body, now, 0))
	// The whsec_ string decoded as a Standard secret is a different key.
	if s, err := ParseSecret("whsec_dGVzdA=="); assert.NoError(t, err) {
		assert.ErrorIs(t, VerifyStripe(Secrets(s), header, body, now, 0), ErrNoMatchingSignature)
	}
	tests := []struct {
		name   string
		header string
		now    time.Time
		err    error
	}{
		{"decoy first", "t=1700000000,v1=" + zeros64 + "," + header[len("t=1700000000,"):], now, nil},
		{"v0 ignored", "t=1700000000,v0=" + header[len("t=1700000000,v1="):], now, ErrNoMatchingSignature},
		{"too old", header, now.Add(301 * time.Second), ErrTooOld},
		{"too new", header, now.Add(-301 * time.Second), ErrTooNew},
		{"no timestamp", header[len("t=1700000000,"):], now, ErrMissingHeaders},
		{"bad timestamp", "t=+1700000000," + header[len("t=1700000000,"):], now, ErrInvalidHeaders},
		{"two timestamps", "t=1700000000,t=1700000001," + header[len("t=1700000000,"):], now, ErrInvalidHeaders},
		{"empty", "", now, ErrMissingHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyStripe(Secrets(secret), tc.header, body, tc.now, 0)
			if tc.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.err)
			}
		})
	}
	tampered := append([]byte(nil), body...)
	tampered[8] = 'X'
	assert.ErrorIs(t, VerifyStripe(Secrets(secret), header, tampered, now, 0), ErrNoMatchingSignature)
	h := http.Header{}
	h.Set(HeaderStripeSignature, "t="+strconv.FormatInt(now.Unix(), 10))
	_, err := parseStripe(h)
	require.NoError(t, err)
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"
