package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// GitHub header names.
const (
	HeaderGitHubSignature = "X-Hub-Signature-256"
	HeaderGitHubDelivery  = "X-GitHub-Delivery"
	HeaderGitHubEvent     = "X-GitHub-Event"
)

// SignGitHub returns an X-Hub-Signature-256 header value for body, keyed
// with secret (the secret string's bytes, see RawSecret).
func SignGitHub(secret Secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(macGitHub(secret, body))
}

// VerifyGitHub checks an X-Hub-Signature-256 header value against the raw
// body with every key of keys that is unexpired at now: a key whose
// NotAfter is not after now is refused.
//
// GitHub signs the body only, no timestamp and no delivery id, so a
// captured request stays valid for as long as its key does. Refuse replays
// by remembering a hash of each verified body, as the Receiver does (see
// [Receiver]); X-GitHub-Delivery is unsigned and cannot serve for that.
func VerifyGitHub(keys Keyring, header string, body []byte, now time.Time) error {
	if header == "" {
		return ErrMissingHeaders
	}
	v := verifier{keys: keys, now: now}
	return v.checkGitHub(parsed{sigs: header, scheme: GitHub}, body)
}

func parseGitHub(h http.Header) (parsed, error) {
	p := parsed{sigs: h.Get(HeaderGitHubSignature), id: h.Get(HeaderGitHubDelivery), scheme: GitHub}
	if p.sigs == "" {
		return p, ErrMissingHeaders
	}
	return p, nil
}

func (v *verifier) checkGitHub(p parsed, body []byte) error {
	hexSig, ok := strings.CutPrefix(p.sigs, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrNoMatchingSignature
	}
	raw, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrNoMatchingSignature
	}
	for i := range v.keys {
		k := &v.keys[i]
		if len(k.Secret) == 0 || !k.valid(v.now) {
			continue
		}
		v.count()
		if hmac.Equal(macGitHub(k.Secret, body), raw) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

func macGitHub(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}
