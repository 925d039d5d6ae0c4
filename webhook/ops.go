package webhook

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// Operating webhooks: the endpoint registry, the leases that let several
// Dispatchers share one store, and the durable attempt log and dead
// letters. The memory implementation is MemoryStore; the Redis and
// PostgreSQL ones live in the webhookstore packages of redisbus and pgbus.
// Package webhooktest checks any implementation.

// An EndpointConfig is an endpoint as a Registry stores it: the data of an
// Endpoint in a form that can be kept outside the process. Its JSON form
// is stable.
type EndpointConfig struct {
	// ID names the endpoint. It must not be empty, and is at most 200
	// bytes of [A-Za-z0-9_.:-].
	ID string `json:"id"`
	// URL is where deliveries are POSTed: absolute http or https.
	URL string `json:"url"`
	// Topic is the bus topic the endpoint follows.
	Topic string `json:"topic"`
	// Types, when not empty, is the event-type filter: an entry ending in
	// "*" matches a prefix ("order.*" matches "order.paid").
	Types []string `json:"types,omitempty"`
	// From is where delivery starts when no cursor is stored for the
	// endpoint: "" means the messages published from then on, bus.Oldest
	// the whole retained history, a message ID after it.
	From string `json:"from,omitempty"`
	// Secrets sign the deliveries, newest first. Rotate by putting the new
	// secret first and giving the old one a NotAfter. At least one is
	// required.
	Secrets []SecretConfig `json:"secrets"`
	// Headers are extra request headers. They cannot replace the
	// signature headers or Content-Type.
	Headers map[string]string `json:"headers,omitempty"`
	// Disabled stops delivery to the endpoint; its cursor is kept, so
	// enabling it again resumes where it stopped.
	Disabled bool `json:"disabled,omitempty"`
	// RateLimit caps the endpoint's attempts per second (retries,
	// recoveries and replays included); zero means unlimited. Each
	// Dispatcher instance keeps its own bucket: with Leases one instance
	// delivers, but a Recover or Replay run on another instance is paced
	// by that instance's bucket.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Burst is how many attempts may go at once above RateLimit after a
	// pause; zero means max(1, ceil(RateLimit)).
	Burst int `json:"burst,omitempty"`
	// MaxConcurrent caps the endpoint's messages in flight. Zero or 1
	// delivers one message at a time, in bus order; above 1, up to that
	// many messages (at most half the Dispatcher's MaxConcurrent) are in
	// flight at once, so a receiver may see them out of order, while the
	// stored cursor still only passes a message once every message before
	// it is done.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// Description is free text for operators.
	Description string `json:"description,omitempty"`
	// Version is set by the Registry: 1 on create, +1 per update. An
	// update must carry the stored Version (optimistic concurrency).
	Version int64 `json:"version"`
	// Created and Updated are set by the Registry.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// A SecretConfig is one signing secret of an EndpointConfig.
type SecretConfig struct {
	// Secret is a Standard Webhooks secret ("whsec_" and base64), or an
	// Ed25519 signing key ("whsk_…") for v1a signatures.
	Secret string `json:"secret"`
	// NotAfter, when set, is when the secret stops signing.
	NotAfter time.Time `json:"not_after,omitempty"`
}

// maxIDLen bounds endpoint IDs.
const maxIDLen = 200

// Validate checks c as a Registry must before storing it. Its errors wrap
// ErrInvalidEndpoint and say which field is wrong.
func (c EndpointConfig) Validate() error {
	_, err := c.Endpoint()
	return err
}

// Endpoint returns the Endpoint that c describes, for a Sender or a
// Dispatcher. It validates c: its errors wrap ErrInvalidEndpoint.
func (c EndpointConfig) Endpoint() (Endpoint, error) {
	bad := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: %s", ErrInvalidEndpoint, trunc(c.ID), fmt.Sprintf(format, args...))
	}
	if !validEndpointID(c.ID) {
		return bad("ID must be 1 to %d bytes of [A-Za-z0-9_.:-]", maxIDLen)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("URL must be absolute http or https")
	}
	if err := bus.ValidateTopic(c.Topic); err != nil {
		return bad("topic: %v", err)
	}
	for _, t := range c.Types {
		if t == "" {
			return bad("empty event type")
		}
	}
	if c.From != "" && c.From != bus.Oldest {
		if _, err := bus.ParseID(c.From); err != nil {
			return bad("from: %v", err)
		}
	}
	if len(c.Secrets) == 0 {
		return bad("no secret")
	}
	keys := make(Keyring, 0, len(c.Secrets))
	for i, s := range c.Secrets {
		k, err := parseKey(s.Secret)
		if err != nil {
			return bad("secret %d: %v", i, err)
		}
		k.NotAfter = s.NotAfter
		keys = append(keys, k)
	}
	var h http.Header
	for k, v := range c.Headers {
		ck := http.CanonicalHeaderKey(k)
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return bad("header %q is not a valid header", trunc(k))
		}
		switch ck {
		case "Content-Type", HeaderID, HeaderTimestamp, HeaderSignature, "Host", "Content-Length":
			return bad("header %q cannot be set", ck)
		}
		if h == nil {
			h = make(http.Header)
		}
		h.Set(ck, v)
	}
	switch {
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || c.RateLimit > 1e9:
		return bad("rate_limit must be between 0 and 1e9")
	case c.Burst < 0:
		return bad("burst must not be negative")
	case c.MaxConcurrent < 0:
		return bad("max_concurrent must not be negative")
	case c.Version < 0:
		return bad("version must not be negative")
	}
	return Endpoint{
		ID: c.ID, URL: c.URL, Keys: keys, Topic: c.Topic,
		Types: append([]string(nil), c.Types...), From: c.From, Header: h,
		RateLimit: c.RateLimit, Burst: c.Burst, MaxConcurrent: c.MaxConcurrent,
	}, nil
}

func parseKey(s string) (Key, error) {
	if strings.HasPrefix(s, SigningKeyPrefix) {
		k, err := ParseSigningKey(s)
		return Key{PrivateKey: k}, err
	}
	if !strings.HasPrefix(s, SecretPrefix) {
		return Key{}, errors.New(`must start with "` + SecretPrefix + `" or "` + SigningKeyPrefix + `"`)
	}
	sec, err := ParseSecret(s)
	if err == nil && len(sec) == 0 {
		err = ErrInvalidSecret
	}
	return Key{Secret: sec}, err
}

func validEndpointID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.:-", c) >= 0) {
			return false
		}
	}
	return true
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// A Registry stores endpoint configurations. Implementations must be safe
// for concurrent use.
type Registry interface {
	// PutEndpoint creates c (when c.Version is 0) or updates it. An update
	// whose Version is not the stored one fails with ErrConflict, and so
	// does a create of an ID that exists; an update of an ID that does not
	// exist fails with ErrEndpointNotFound. c is checked with Validate
	// first. PutEndpoint returns the stored configuration: Version 1 on
	// create and +1 per update, Created kept from the create, Updated the
	// time of this call.
	PutEndpoint(ctx context.Context, c EndpointConfig) (EndpointConfig, error)
	// GetEndpoint returns the configuration of id, or ErrEndpointNotFound.
	GetEndpoint(ctx context.Context, id string) (EndpointConfig, error)
	// DeleteEndpoint removes id, or returns ErrEndpointNotFound.
	DeleteEndpoint(ctx context.Context, id string) error
	// ListEndpoints returns every configuration, sorted by ID.
	ListEndpoints(ctx context.Context) ([]EndpointConfig, error)
	// Revision returns a number that changes whenever an endpoint is
	// created, updated or deleted, so followers can poll cheaply.
	Revision(ctx context.Context) (int64, error)
}

// Leases let several Dispatchers share a store: an endpoint is delivered
// only by the instance holding its lease. Implementations must be safe
// for concurrent use, and AcquireLease atomic: of holders competing for a
// free or expired lease, exactly one gets it.
type Leases interface {
	// AcquireLease takes the lease on key for holder until now+ttl, or
	// renews it if holder holds it, and reports whether holder holds it
	// now. A lease held by another holder and not expired is not taken.
	AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease on key up if holder holds it; else it
	// does nothing.
	ReleaseLease(ctx context.Context, key, holder string) error
}

// An AttemptLog keeps every attempt durably. Implementations must be safe
// for concurrent use.
type AttemptLog interface {
	// AddAttempt stores a.
	AddAttempt(ctx context.Context, a Attempt) error
	// ListAttempts returns the attempts that match q, oldest first (by
	// At, then in the order they were added).
	ListAttempts(ctx context.Context, q AttemptQuery) ([]Attempt, error)
	// PruneAttempts removes the attempts made before before and returns
	// how many it removed.
	PruneAttempts(ctx context.Context, before time.Time) (int, error)
}

// Limits of the queries.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// An AttemptQuery selects attempts of one endpoint.
type AttemptQuery struct {
	// Endpoint is the endpoint's ID. It is required.
	Endpoint string
	// Delivery, when set, selects one delivery's attempts.
	Delivery string
	// Since and Until, when set, bound At: Since <= At < Until.
	Since, Until time.Time
	// FailedOnly selects the attempts that did not succeed.
	FailedOnly bool
	// Limit caps the result: the oldest Limit attempts that match. Zero
	// means DefaultQueryLimit; it is capped at MaxQueryLimit.
	Limit int
}

// A DeadLetterStore keeps dead letters durably. Implementations must be
// safe for concurrent use.
type DeadLetterStore interface {
	// AddDeadLetter stores dl, replacing a dead letter of the same
	// endpoint and delivery.
	AddDeadLetter(ctx context.Context, dl DeadLetter) error
	// ListDeadLetters returns the dead letters that match q, oldest first
	// (by At).
	ListDeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// RemoveDeadLetter removes one dead letter, or returns
	// ErrDeadLetterNotFound.
	RemoveDeadLetter(ctx context.Context, endpoint, delivery string) error
	// PruneDeadLetters removes the dead letters dead-lettered before
	// before and returns how many it removed.
	PruneDeadLetters(ctx context.Context, before time.Time) (int, error)
}

// A DeadLetterQuery selects dead letters.
type DeadLetterQuery struct {
	// Endpoint, when set, selects one endpoint's dead letters.
	Endpoint string
	// Since and Until, when set, bound At: Since <= At < Until.
	Since, Until time.Time
	// Limit caps the result as AttemptQuery.Limit does.
	Limit int
}

// A Store is everything a Dispatcher persists. The memory, Redis and
// PostgreSQL stores implement all of it.
type Store interface {
	CursorStore
	Registry
	Leases
	AttemptLog
	DeadLetterStore
}

// QueryLimit returns the limit a store applies for a query's Limit n:
// DefaultQueryLimit for 0 or less, at most MaxQueryLimit.
func QueryLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultQueryLimit
	case n > MaxQueryLimit:
		return MaxQueryLimit
	}
	return n
}

// Match reports whether a passes q's filters (Limit aside), so stores that
// filter in Go share one definition.
func (q AttemptQuery) Match(a Attempt) bool {
	return a.Endpoint == q.Endpoint &&
		(q.Delivery == "" || a.Delivery == q.Delivery) &&
		inRange(a.At, q.Since, q.Until) &&
		(!q.FailedOnly || !a.OK())
}

// Match reports whether dl passes q's filters (Limit aside).
func (q DeadLetterQuery) Match(dl DeadLetter) bool {
	return (q.Endpoint == "" || dl.Endpoint == q.Endpoint) && inRange(dl.At, q.Since, q.Until)
}

func inRange(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

// errorf returns an error wrapping sentinel with details: "webhook:
// endpoint not found: \"shop\"".
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
