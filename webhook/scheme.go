package webhook

// A Scheme is a signature format the Receiver verifies.
type Scheme int

const (
	// Standard is Standard Webhooks (also sent by Svix and this package's
	// Sender): webhook-id, webhook-timestamp and webhook-signature headers,
	// "v1," HMAC-SHA256 and "v1a," Ed25519 signatures over id.timestamp.body,
	// keys decoded from whsec_ secrets. Svix's header names svix-id,
	// svix-timestamp and svix-signature are accepted too and, as in Svix's
	// libraries, preferred when all three are present; otherwise the three
	// webhook-* headers are used, never a mix of both sets.
	Standard Scheme = iota
	// Stripe is Stripe's format: Stripe-Signature: t=<unix>,v1=<hex>, an
	// HMAC-SHA256 over timestamp.body keyed with the secret string as it is
	// (use RawSecret). The event id for deduplication is the "id" field of
	// the signed body (a hash of the body when it has none).
	Stripe
	// GitHub is GitHub's format: X-Hub-Signature-256: sha256=<hex>, an
	// HMAC-SHA256 over the body keyed with the secret string as it is (use
	// RawSecret). Neither a timestamp nor X-GitHub-Delivery is signed, so
	// the Receiver's only replay defence is deduplication on a hash of the
	// body, for IdempotencyTTL.
	GitHub
)

// String returns the scheme's name.
func (s Scheme) String() string {
	switch s {
	case Standard:
		return "standard"
	case Stripe:
		return "stripe"
	case GitHub:
		return "github"
	}
	return "unknown"
}
