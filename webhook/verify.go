package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Svix's names of the same three headers. Svix sends the same id,
// timestamp and signature under these names.
const (
	svixID        = "Svix-Id"
	svixTimestamp = "Svix-Timestamp"
	svixSignature = "Svix-Signature"
)

// standardHeaders returns the id, timestamp and signature of a Standard
// Webhooks request. Like svix's own Go library (and its C#, Kotlin, Ruby and
// PHP ones), it takes the three svix-* headers when all of them are
// present and otherwise the three webhook-* headers, never a mix of the
// two sets: a request whose id, timestamp and signature come from
// different senders' headers cannot verify, so it is refused as missing
// headers.
func standardHeaders(h http.Header) (id, ts, sig string) {
	id, ts, sig = h.Get(svixID), h.Get(svixTimestamp), h.Get(svixSignature)
	if id == "" || ts == "" || sig == "" {
		id, ts, sig = h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	}
	return id, ts, sig
}

// Limits of verification. They bound the work an unauthenticated request
// can cause.
const (
	// DefaultTolerance is how far a signed timestamp may be from the
	// verifier's clock, in either direction.
	DefaultTolerance = 5 * time.Minute
	// DefaultMaxSignatures is how many signatures a header may carry.
	DefaultMaxSignatures = 16
	// MaxIDLen is the longest accepted message id.
	MaxIDLen  = 256
	maxSigLen = 128 // one "v1a,<base64>" entry is well below this
)

// Verify checks a Standard Webhooks request: the webhook-id,
// webhook-timestamp and webhook-signature headers of h (or Svix's
// svix-id, svix-timestamp and svix-signature, which take precedence when
// all three are present) against the raw body,
// with the timestamp within tolerance of now (DefaultTolerance when
// tolerance is zero), and at least one signature made by an unexpired key of
// keys. Unknown signature versions are ignored. The errors are
// ErrMissingHeaders, ErrInvalidHeaders, ErrTooOld, ErrTooNew and
// ErrNoMatchingSignature.
func Verify(keys Keyring, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	v := verifier{keys: keys, now: now, tolerance: tolerance}
	p, err := v.parse(Standard, h)
	if err != nil {
		return err
	}
	if err := v.checkTime(p.ts); err != nil {
		return err
	}
	return v.checkSignature(Standard, p, body)
}

// parsed holds what a scheme's headers say.
type parsed struct {
	id     string // event id for idempotency; may be empty (Stripe)
	ts     int64  // signed Unix seconds; hasTS false for GitHub
	tsRaw  string
	hasTS  bool
	sigs   string // the signature header value
	scheme Scheme
}

// verifier runs the steps of verification in the Receiver's order, so each
// failure gets its own status.
type verifier struct {
	keys      Keyring
	now       time.Time
	tolerance time.Duration
	maxSigs   int
	onMAC     func() // counts signature computations in tests
}

func (v *verifier) maxSignatures() int {
	if v.maxSigs > 0 {
		return v.maxSigs
	}
	return DefaultMaxSignatures
}

func (v *verifier) parse(s Scheme, h http.Header) (parsed, error) {
	switch s {
	case Stripe:
		return parseStripe(h)
	case GitHub:
		return parseGitHub(h)
	}
	p := parsed{scheme: Standard}
	p.id, p.tsRaw, p.sigs = standardHeaders(h)
	if p.id == "" || p.tsRaw == "" || p.sigs == "" {
		return p, ErrMissingHeaders
	}
	if len(p.id) > MaxIDLen {
		return p, fmt.Errorf("%w: webhook-id too long", ErrInvalidHeaders)
	}
	ts, err := parseUnix(p.tsRaw)
	if err != nil {
		return p, err
	}
	p.ts, p.hasTS = ts, true
	return p, nil
}

// parseUnix accepts only plain decimal seconds: no sign, space, fraction or
// exponent.
func parseUnix(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, fmt.Errorf("%w: timestamp %q", ErrInvalidHeaders, trunc(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: timestamp %q", ErrInvalidHeaders, trunc(s))
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func (v *verifier) checkTime(ts int64) error {
	tol := v.tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	d := v.now.Sub(time.Unix(ts, 0))
	switch {
	case d > tol:
		return ErrTooOld
	case d < -tol:
		return ErrTooNew
	}
	return nil
}

func (v *verifier) checkSignature(s Scheme, p parsed, body []byte) error {
	switch s {
	case Stripe:
		return v.checkStripe(p, body)
	case GitHub:
		return v.checkGitHub(p, body)
	}
	if len(p.sigs) > v.maxSignatures()*(maxSigLen+1) {
		return fmt.Errorf("%w: signature header too long", ErrNoMatchingSignature)
	}
	entries := strings.Fields(p.sigs)
	if len(entries) > v.maxSignatures() {
		return fmt.Errorf("%w: %d signatures, at most %d", ErrNoMatchingSignature, len(entries), v.maxSignatures())
	}
	macs := make([][]byte, len(v.keys)) // computed lazily, once per key
	var content []byte
	for _, e := range entries {
		ver, sig, ok := strings.Cut(e, ",")
		if !ok || len(sig) > maxSigLen || (ver != "v1" && ver != "v1a") {
			continue // unknown versions are ignored
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(raw) == 0 {
			continue
		}
		for i := range v.keys {
			k := &v.keys[i]
			if !k.valid(v.now) {
				continue
			}
			switch {
			case ver == "v1" && len(k.Secret) > 0:
				if macs[i] == nil {
					v.count()
					macs[i] = macStandard(k.Secret, p.id, p.tsRaw, body)
				}
				if hmac.Equal(macs[i], raw) {
					return nil
				}
			case ver == "v1a" && len(k.Secret) == 0:
				pub := k.publicKey()
				if pub == nil || len(raw) != ed25519.SignatureSize {
					continue
				}
				if content == nil {
					content = signedContent(p.id, p.tsRaw, body)
				}
				v.count()
				if ed25519.Verify(pub, content, raw) {
					return nil
				}
			}
		}
	}
	return ErrNoMatchingSignature
}

func (v *verifier) count() {
	if v.onMAC != nil {
		v.onMAC()
	}
}
