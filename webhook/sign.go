package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// Sign returns the value of the webhook-signature header for a message: one
// "v1,<base64 HMAC-SHA256>" or "v1a,<base64 Ed25519>" entry per key of keys
// that is unexpired at ts, separated by spaces, over id.ts.body. id must
// match [A-Za-z0-9_-]+ so the signed content is unambiguous.
func Sign(keys Keyring, id string, ts time.Time, body []byte) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	tss := strconv.FormatInt(ts.Unix(), 10)
	var b strings.Builder
	for i := range keys {
		k := &keys[i]
		if !k.valid(ts) {
			continue
		}
		switch {
		case len(k.Secret) > 0:
			sep(&b)
			b.WriteString("v1,")
			b.WriteString(base64.StdEncoding.EncodeToString(macStandard(k.Secret, id, tss, body)))
		case k.PrivateKey != nil:
			sep(&b)
			b.WriteString("v1a,")
			b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(k.PrivateKey, signedContent(id, tss, body))))
		}
	}
	if b.Len() == 0 {
		return "", ErrNoKeys
	}
	return b.String(), nil
}

func sep(b *strings.Builder) {
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
}

func macStandard(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func signedContent(id, ts string, body []byte) []byte {
	c := make([]byte, 0, len(id)+len(ts)+2+len(body))
	c = append(c, id...)
	c = append(c, '.')
	c = append(c, ts...)
	c = append(c, '.')
	return append(c, body...)
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return ErrInvalidID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("%w: %q", ErrInvalidID, trunc(id))
		}
	}
	return nil
}
