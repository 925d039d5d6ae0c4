package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// An Action is what a request asks to do with a topic.
type Action string

// The actions an Authorizer is asked about.
const (
	Subscribe Action = "subscribe"
	Publish   Action = "publish"
)

// Errors of package auth. Handlers map them to statuses (see the package
// documentation); Authorizers wrap them.
var (
	// ErrUnauthenticated means the request's credentials are missing or
	// not valid: 401. The text of an error wrapping it is sent to the
	// client as the reason, so it must hold nothing secret.
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrNoCredentials wraps ErrUnauthenticated: the request carries no
	// credentials at all.
	ErrNoCredentials = fmt.Errorf("%w: no credentials", ErrUnauthenticated)
	// ErrExpired wraps ErrUnauthenticated: the credentials have expired.
	ErrExpired = fmt.Errorf("%w: credentials expired", ErrUnauthenticated)
	// ErrForbidden means the identity may not do the action on the
	// topic: 403.
	ErrForbidden = errors.New("auth: forbidden")
)

// An Identity is who a request is, as an Authorizer found it. Handlers do
// not change it; an Authorizer may share one Identity between requests.
type Identity struct {
	// Subject names who the request is (a user or service id); empty for
	// an anonymous identity.
	Subject string
	// Expires is when the identity stops being valid, leeway included;
	// zero means never. Live connections end then.
	Expires time.Time
	// Subscribe and Publish are the topic patterns the identity may
	// subscribe to and publish on (see the package documentation). Empty
	// means none.
	Subscribe []string
	Publish   []string
	// Claims holds what else the credentials said (for a JWT, its
	// claims), for hooks to use. May be nil.
	Claims map[string]any
}

// Patterns returns the patterns of action: Subscribe or Publish.
func (id *Identity) Patterns(action Action) []string {
	switch action {
	case Subscribe:
		return id.Subscribe
	case Publish:
		return id.Publish
	}
	return nil
}

// Allows reports whether one of the identity's patterns for action matches
// topic. A nil Identity allows nothing.
func (id *Identity) Allows(action Action, topic string) bool {
	if id == nil {
		return false
	}
	return slices.ContainsFunc(id.Patterns(action), func(p string) bool { return Match(p, topic) })
}

// Check returns nil when the identity allows action on topic, else an
// error wrapping ErrForbidden.
func (id *Identity) Check(action Action, topic string) error {
	if id.Allows(action, topic) {
		return nil
	}
	sub := "anonymous"
	if id != nil && id.Subject != "" {
		sub = fmt.Sprintf("%q", id.Subject)
	}
	return fmt.Errorf("%w: %s may not %s %q", ErrForbidden, sub, action, topic)
}

// Expired reports whether the identity has expired at t.
func (id *Identity) Expired(t time.Time) bool {
	return id != nil && !id.Expires.IsZero() && !t.Before(id.Expires)
}

// Match reports whether pattern matches topic: equal to it, or, for a
// pattern ending in "*", starting with what comes before the "*".
func Match(pattern, topic string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(topic, prefix)
	}
	return pattern == topic
}

// ValidatePattern checks a topic pattern: a valid topic, a valid topic
// followed by "*", or "*" alone. Mercure-style templates are refused.
// The error wraps bus.ErrInvalidTopic.
func ValidatePattern(pattern string) error {
	prefix, _ := strings.CutSuffix(pattern, "*")
	if prefix == "" {
		if pattern == "*" {
			return nil
		}
		return fmt.Errorf("%w: empty pattern", bus.ErrInvalidTopic)
	}
	if strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("%w: pattern %q: URI templates are not supported; use an exact topic or a prefix ending in *", bus.ErrInvalidTopic, pattern)
	}
	if err := bus.ValidateTopic(prefix); err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return nil
}

// An Authorizer decides who a request is and what it may do. Handlers call
// Authenticate once per request (per connection for ws), then Authorize for
// each topic and action. Both must be safe for concurrent use.
type Authorizer interface {
	// Authenticate returns the identity of r. An error wrapping
	// ErrUnauthenticated refuses it with 401 (its text is the reason
	// sent); any other error with 503. It must not return an expired
	// identity.
	Authenticate(r *http.Request) (*Identity, error)
	// Authorize returns nil when id may do action on topic; an error
	// (wrapping ErrForbidden, by convention) refuses it with 403. ctx
	// carries id (FromContext) and is the request's or, on ws, the
	// connection's.
	Authorize(ctx context.Context, id *Identity, action Action, topic string) error
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity a Handler authenticated, if any.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}

// Authenticate runs a.Authenticate and returns r with the identity in its
// context, for handlers and middleware. It refuses an expired identity
// with an error wrapping ErrExpired.
func Authenticate(a Authorizer, r *http.Request) (*http.Request, *Identity, error) {
	id, err := a.Authenticate(r)
	if err != nil {
		return r, nil, err
	}
	if id == nil {
		return r, nil, fmt.Errorf("%w: no identity", ErrUnauthenticated)
	}
	if id.Expired(time.Now()) {
		return r, nil, ErrExpired
	}
	return r.WithContext(NewContext(r.Context(), id)), id, nil
}

// A Joiner is an Authorizer that is told of live subscriptions, to keep
// presence (see package auth/presence). Handlers call Join when a stream
// (sse) or a subscription (ws) starts and the function it returns when it
// ends; poll and long-poll requests are not live subscriptions and are not
// reported.
type Joiner interface {
	// Join records that id subscribes to topic and returns the function
	// that records the end of that subscription. Both must be quick and
	// must not fail; the leave function is called exactly once.
	Join(ctx context.Context, id *Identity, topic string) (leave func())
}

// Join calls a's Join when a is a Joiner and id is not nil, and returns
// its leave function, or one that does nothing.
func Join(ctx context.Context, a Authorizer, id *Identity, topic string) (leave func()) {
	if j, ok := a.(Joiner); ok && id != nil {
		if leave := j.Join(ctx, id, topic); leave != nil {
			return sync.OnceFunc(leave)
		}
	}
	return func() {}
}
