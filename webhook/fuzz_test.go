package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// FuzzVerify feeds arbitrary headers and bodies to every scheme's verifier
// and to the Receiver: they must never panic, and must never accept a
// request without a valid signature.
func FuzzVerify(f *testing.F) {
	f.Add(swID, "1614265330", swSignature, []byte(swBody))
	f.Add(swID, "1614265330", "v1, v1a,AAAA v2,x", []byte(""))
	f.Add("", "", "", []byte(nil))
	f.Add("msg", "+1", strings.Repeat("v1,a ", 40), []byte("{}"))
	f.Add("t=1,v1=00", "sha256=00", "t=1614265330,v1=zz,,=,t", []byte("\x00\xff"))
	keys := swKeys(f)
	now := time.Unix(swTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := Verify(keys, h, body, now, 0)
		if err == nil && (id != swID || ts != "1614265330" || string(body) != swBody) {
			t.Fatalf("accepted a forged request: id %q ts %q sig %q body %q", id, ts, sig, body)
		}
		// Svix's names for the same values give the same verdict, and a
		// complete svix-* set wins over other webhook-* values.
		sv := http.Header{}
		sv.Set("svix-id", id)
		sv.Set("svix-timestamp", ts)
		sv.Set("svix-signature", sig)
		if serr := Verify(keys, sv, body, now, 0); fmt.Sprint(serr) != fmt.Sprint(err) {
			t.Fatalf("svix-* headers: %v, webhook-* headers: %v", serr, err)
		}
		if id != "" && ts != "" && sig != "" {
			sv.Set(HeaderID, "msg_other")
			sv.Set(HeaderTimestamp, "1614265330")
			sv.Set(HeaderSignature, swSignature)
			if serr := Verify(keys, sv, body, now, 0); fmt.Sprint(serr) != fmt.Sprint(err) {
				t.Fatalf("both sets: %v, webhook-* headers alone: %v", serr, err)
			}
		}
		_ = VerifyStripe(keys, sig, body, now, 0)
		_ = VerifyGitHub(keys, sig, body, now)
		for _, s := range []Scheme{Standard, Stripe, GitHub} {
			r := &Receiver{Keys: keys, Scheme: s, Clock: func() time.Time { return now }, Broker: &bus.Memory{}, Topic: fixedTopic("t")}
			req := signedRequest(t, keys, "msg_x", now, body)
			req.Header = h.Clone()
			req.Header.Set(HeaderStripeSignature, sig)
			req.Header.Set(HeaderGitHubSignature, sig)
			_ = serve(r, req)
		}
		_, _ = ParsePayload(body)
		_, _ = ParseSecret(id)
		_, _ = ParseSigningKey(sig)
	})
}

// FuzzSignVerify checks that whatever Sign signs, Verify accepts, and that
// a changed byte is refused.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte("k"), "msg_1", int64(1614265330), []byte(swBody), uint(0))
	f.Add([]byte{0}, "a", int64(0), []byte{}, uint(3))
	f.Fuzz(func(t *testing.T, secret []byte, id string, sec int64, body []byte, flip uint) {
		if len(secret) == 0 || checkID(id) != nil || sec < 0 || sec > 1e11 {
			return
		}
		keys := Secrets(Secret(secret))
		ts := time.Unix(sec, 0)
		sig, err := Sign(keys, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		h := swHeader(id, sec, sig)
		if err := Verify(keys, h, body, ts, 0); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			tampered[flip%uint(len(body))] ^= 1
			if Verify(keys, h, tampered, ts, 0) == nil {
				t.Fatal("tampered body accepted")
			}
		}
		// The Stripe and GitHub signers round-trip too.
		if VerifyStripe(keys, SignStripe(Secret(secret), ts, body), body, ts, 0) != nil {
			t.Fatal("stripe round trip")
		}
		if VerifyGitHub(keys, SignGitHub(Secret(secret), body), body, ts) != nil {
			t.Fatal("github round trip")
		}
	})
}

// FuzzPayload checks that any bus message's data survives the payload.
func FuzzPayload(f *testing.F) {
	f.Add("t", []byte(`{"a":1}`))
	f.Add("", []byte(" [1] "))
	f.Add("x", []byte("\xff\x00"))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		p := NewPayload(bus.Message{Type: typ, Data: data, Time: time.Unix(1, 0)})
		body, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePayload(body)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		got, err := back.Bytes()
		if err != nil || string(got) != string(data) {
			t.Fatalf("data %q came back as %q (%v)", data, got, err)
		}
	})
}

// FuzzOpenSealed feeds arbitrary stored secrets to SecretCipher.Open: it
// never panics, opens only what the cipher sealed for that endpoint, and
// what it seals opens to the original.
func FuzzOpenSealed(f *testing.F) {
	c, err := NewSecretCipher([]byte(strings.Repeat("k", SecretCipherKeySize)))
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := c.Seal(EndpointConfig{ID: "ep", Secrets: []SecretConfig{{Secret: "whsec_AAAA"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ep", sealed.Secrets[0].Secret)
	f.Add("other", sealed.Secrets[0].Secret)
	f.Add("ep", SealedPrefix)
	f.Add("ep", SealedPrefix+"00000000_")
	f.Add("ep", "whsec_AAAA")
	f.Fuzz(func(t *testing.T, id, stored string) {
		cfg := EndpointConfig{ID: id, Secrets: []SecretConfig{{Secret: stored}}}
		opened, err := c.Open(cfg)
		switch {
		case !strings.HasPrefix(stored, SealedPrefix):
			if err != nil || opened.Secrets[0].Secret != stored {
				t.Fatalf("a secret in the clear was not left as it is: %q, %v", opened.Secrets, err)
			}
		case err == nil:
			// Only a seal of this cipher for this endpoint opens, and
			// the fuzzer has no seal but those of the corpus.
			if id != "ep" || opened.Secrets[0].Secret != "whsec_AAAA" {
				t.Fatalf("%q for %q opened to %q", stored, id, opened.Secrets[0].Secret)
			}
		case !errors.Is(err, ErrSealed):
			t.Fatalf("error without ErrSealed: %v", err)
		}
		again, err := c.Seal(EndpointConfig{ID: id, Secrets: []SecretConfig{{Secret: stored}}})
		if err != nil {
			if !errors.Is(err, ErrSealed) {
				t.Fatalf("Seal: %v", err)
			}
			return
		}
		back, err := c.Open(again)
		if err != nil {
			t.Fatalf("a fresh seal does not open: %v", err)
		}
		want := stored
		if strings.HasPrefix(stored, SealedPrefix) {
			want = opened.Secrets[0].Secret
		}
		if back.Secrets[0].Secret != want {
			t.Fatalf("round trip: %q, want %q", back.Secrets[0].Secret, want)
		}
	})
}
