package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderStripeSignature is Stripe's signature header.
const HeaderStripeSignature = "Stripe-Signature"

// SignStripe returns a Stripe-Signature header value for body at ts, keyed
// with secret (the secret string's bytes, see RawSecret). It is meant for
// tests of code that receives Stripe events.
func SignStripe(secret Secret, ts time.Time, body []byte) string {
	t := strconv.FormatInt(ts.Unix(), 10)
	return "t=" + t + ",v1=" + hex.EncodeToString(macStripe(secret, t, body))
}

// VerifyStripe checks a Stripe-Signature header value against the raw body:
// the timestamp within tolerance of now on both sides (DefaultTolerance when
// zero) and one v1 signature made by a key of keys.
func VerifyStripe(keys Keyring, header string, body []byte, now time.Time, tolerance time.Duration) error {
	h := http.Header{}
	h.Set(HeaderStripeSignature, header)
	v := verifier{keys: keys, now: now, tolerance: tolerance}
	p, err := parseStripe(h)
	if err != nil {
		return err
	}
	if err := v.checkTime(p.ts); err != nil {
		return err
	}
	return v.checkStripe(p, body)
}

func parseStripe(h http.Header) (parsed, error) {
	p := parsed{sigs: h.Get(HeaderStripeSignature), scheme: Stripe}
	if p.sigs == "" {
		return p, ErrMissingHeaders
	}
	for _, kv := range strings.Split(p.sigs, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "t" {
			continue
		}
		if p.hasTS {
			return p, fmt.Errorf("%w: two timestamps", ErrInvalidHeaders)
		}
		ts, err := parseUnix(v)
		if err != nil {
			return p, err
		}
		p.ts, p.tsRaw, p.hasTS = ts, v, true
	}
	if !p.hasTS {
		return p, fmt.Errorf("%w: no timestamp in %s", ErrMissingHeaders, HeaderStripeSignature)
	}
	return p, nil
}

func (v *verifier) checkStripe(p parsed, body []byte) error {
	parts := strings.Split(p.sigs, ",")
	if len(parts) > v.maxSignatures()+1 {
		return fmt.Errorf("%w: too many signatures", ErrNoMatchingSignature)
	}
	macs := make([][]byte, len(v.keys))
	for _, kv := range parts {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "v1" || len(val) != 2*sha256.Size {
			continue
		}
		raw, err := hex.DecodeString(val)
		if err != nil {
			continue
		}
		for i := range v.keys {
			key := &v.keys[i]
			if len(key.Secret) == 0 || !key.valid(v.now) {
				continue
			}
			if macs[i] == nil {
				v.count()
				macs[i] = macStripe(key.Secret, p.tsRaw, body)
			}
			if hmac.Equal(macs[i], raw) {
				return nil
			}
		}
	}
	return ErrNoMatchingSignature
}

func macStripe(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
