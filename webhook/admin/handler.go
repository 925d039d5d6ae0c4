package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/webhook"
)

// Defaults of the Handler's fields.
const (
	DefaultMaxBody      = 64 << 10
	DefaultRotateGrace  = 24 * time.Hour
	DefaultRetryTimeout = 30 * time.Second
)

// TopicPrefix starts the topic an endpoint's rights are checked on:
// "webhooks/<endpoint ID>".
const TopicPrefix = "webhooks/"

// Store is what the Handler reads and changes: the endpoint registry, the
// attempt log and the dead letters. webhook.MemoryStore and the Redis and
// PostgreSQL stores implement it.
type Store interface {
	webhook.Registry
	webhook.AttemptLog
	webhook.DeadLetterStore
}

// A Handler is the admin JSON API over a webhook Store and Dispatcher; see
// the package documentation for its routes. Mount it under a prefix with
// [http.StripPrefix]:
//
//	mux.Handle("/admin/", http.StripPrefix("/admin", h))
//
// Set Store; the other fields have useful zero values. Fields must not be
// changed after the first ServeHTTP. A Handler is safe for concurrent use.
type Handler struct {
	// Dispatcher delivers the endpoints of Store: its Registry (or
	// Store) should be this Store. It serves status, recover, replay and
	// retry; when it follows a Registry, changes go through its
	// PutEndpoint and DeleteEndpoint, so they apply at once here (other
	// instances follow within their RegistryPoll). Nil means recover,
	// replay and retry answer 503, status shows the configuration alone
	// and changes go to Store.
	Dispatcher *webhook.Dispatcher
	// Store holds the endpoints, attempts and dead letters. Required.
	Store Store
	// Auth authenticates every request and authorizes it on the topic
	// "webhooks/<endpoint ID>": reads need Subscribe, changes need
	// Publish; listing every endpoint needs Subscribe on "webhooks/*".
	// Nil means the API is open to anyone who can reach it: set it
	// unless the Handler is behind your own authentication.
	Auth auth.Authorizer
	// Logger receives the errors of Store and Dispatcher (answered 500).
	// Nil means no logging.
	Logger *slog.Logger
	// MaxBody caps request bodies (413 past it). Zero means
	// DefaultMaxBody.
	MaxBody int64
	// RotateGrace is how long an old secret stays valid after a rotation
	// that names no not_after. Zero means DefaultRotateGrace.
	RotateGrace time.Duration
	// RetryTimeout bounds a retry of a dead letter, whose delivery runs
	// within the request. Zero means DefaultRetryTimeout.
	RetryTimeout time.Duration
	// MaxOperations caps the recoveries and replays running apart from
	// their requests (Prefer: respond-async) at once, one per endpoint at
	// most; more are answered 429. Zero means DefaultMaxOperations.
	MaxOperations int
	// OperationTTL is how long a finished operation can still be read.
	// Zero means DefaultOperationTTL. The Handler keeps at most the
	// latest MaxFinishedOperations finished operations of each endpoint.
	OperationTTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	opsOnce  sync.Once
	opsState *operations
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return DefaultMaxBody
}

func (h *Handler) rotateGrace() time.Duration {
	if h.RotateGrace > 0 {
		return h.RotateGrace
	}
	return DefaultRotateGrace
}

func (h *Handler) retryTimeout() time.Duration {
	if h.RetryTimeout > 0 {
		return h.RetryTimeout
	}
	return DefaultRetryTimeout
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// A route is one method of one path shape.
type route struct {
	method string
	action auth.Action // "": the route authorizes by itself
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request, p params) error
}

// params are the path's variables.
type params struct {
	endpoint  string // "" on /endpoints
	delivery  string
	operation string
}

// routes maps a path shape (the path with its variables replaced by "{}")
// to its methods.
var routes = map[string][]route{
	"/endpoints": {
		{http.MethodGet, auth.Subscribe, (*Handler).listEndpoints},
		{http.MethodPost, "", (*Handler).createEndpoint}, // authorized once the ID is known
	},
	"/endpoints/{}": {
		{http.MethodGet, auth.Subscribe, (*Handler).getEndpoint},
		{http.MethodPut, auth.Publish, (*Handler).putEndpoint},
		{http.MethodPatch, auth.Publish, (*Handler).patchEndpoint},
		{http.MethodDelete, auth.Publish, (*Handler).deleteEndpoint},
	},
	"/endpoints/{}/rotate":               {{http.MethodPost, auth.Publish, (*Handler).rotate}},
	"/endpoints/{}/disable":              {{http.MethodPost, auth.Publish, (*Handler).disable}},
	"/endpoints/{}/enable":               {{http.MethodPost, auth.Publish, (*Handler).enable}},
	"/endpoints/{}/status":               {{http.MethodGet, auth.Subscribe, (*Handler).status}},
	"/endpoints/{}/attempts":             {{http.MethodGet, auth.Subscribe, (*Handler).attempts}},
	"/endpoints/{}/deliveries":           {{http.MethodGet, auth.Subscribe, (*Handler).deliveries}},
	"/endpoints/{}/deadletters":          {{http.MethodGet, auth.Subscribe, (*Handler).deadLetters}},
	"/endpoints/{}/deadletters/{}/retry": {{http.MethodPost, auth.Publish, (*Handler).retry}},
	"/endpoints/{}/recover":              {{http.MethodPost, auth.Publish, (*Handler).recover}},
	"/endpoints/{}/replay":               {{http.MethodPost, auth.Publish, (*Handler).replay}},
	"/endpoints/{}/operations":           {{http.MethodGet, auth.Subscribe, (*Handler).listOperations}},
	"/operations":                        {{http.MethodGet, auth.Subscribe, (*Handler).listOperations}}, // of every endpoint
	"/endpoints/{}/operations/{}": {
		{http.MethodGet, auth.Subscribe, (*Handler).getOperation},
		{http.MethodDelete, auth.Publish, (*Handler).cancelOperation},
	},
}

// match finds the shape of path and its variables.
func match(path string) (string, params, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var p params
	if len(parts) == 1 && parts[0] == "operations" {
		return "/operations", p, true
	}
	if parts[0] != "endpoints" || len(parts) > 5 {
		return "", p, false
	}
	shape := "/endpoints"
	if len(parts) > 1 {
		p.endpoint = parts[1]
		shape += "/{}"
	}
	switch {
	case len(parts) == 3:
		shape += "/" + parts[2]
	case len(parts) == 4 && parts[2] == "operations":
		p.operation = parts[3]
		shape += "/operations/{}"
	case len(parts) == 5 && parts[2] == "deadletters":
		p.delivery = parts[3]
		shape += "/deadletters/{}/" + parts[4]
	case len(parts) > 3:
		return "", p, false
	}
	if _, ok := routes[shape]; !ok || p.endpoint == "" && len(parts) > 1 || p.delivery == "" && len(parts) == 5 ||
		p.operation == "" && len(parts) == 4 {
		return "", p, false
	}
	return shape, p, true
}

// ServeHTTP implements http.Handler: authenticate, find the route (404,
// 405), authorize on the endpoint's topic (403), then serve.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Store == nil {
		panic("admin: Handler.Store is nil")
	}
	if strings.Trim(r.URL.Path, "/") == "portal" {
		// The page is public: it holds no data and asks for a token.
		Portal(h).ServeHTTP(w, r)
		return
	}
	shape, p, found := match(r.URL.Path)
	var id *auth.Identity
	if h.Auth != nil {
		var err error
		if r, id, err = auth.Authenticate(h.Auth, r); err != nil {
			h.fail(w, r, authError(err))
			return
		}
	}
	if !found {
		h.fail(w, r, errorf(http.StatusNotFound, codeNotFound, "no such route: %s", r.URL.Path))
		return
	}
	rt, ok := pick(routes[shape], r.Method)
	if !ok {
		h.fail(w, r, methodNotAllowed(allow(routes[shape])))
		return
	}
	if err := validID("endpoint", p.endpoint); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validID("delivery", p.delivery); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validID("operation", p.operation); err != nil {
		h.fail(w, r, err)
		return
	}
	// Listing needs the rights on every endpoint.
	topic := TopicPrefix + "*"
	if p.endpoint != "" {
		topic = TopicPrefix + p.endpoint
	}
	if rt.action != "" {
		if err := h.authorize(r.Context(), id, rt.action, topic); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if err := rt.serve(h, w, r, p); err != nil {
		h.fail(w, r, err)
	}
}

// authorize asks Auth whether id may do action on topic.
func (h *Handler) authorize(ctx context.Context, id *auth.Identity, action auth.Action, topic string) error {
	if h.Auth == nil {
		return nil
	}
	if err := h.Auth.Authorize(ctx, id, action, topic); err != nil {
		return &Error{Status: http.StatusForbidden, Code: codeForbidden, Message: "not allowed to " + string(action) + " " + topic, err: err}
	}
	return nil
}

// identity returns the identity the request was authenticated as.
func identity(r *http.Request) *auth.Identity {
	id, _ := auth.FromContext(r.Context())
	return id
}

func pick(rs []route, method string) (route, bool) {
	for _, rt := range rs {
		if rt.method == method || method == http.MethodHead && rt.method == http.MethodGet {
			return rt, true
		}
	}
	return route{}, false
}

func allow(rs []route) string {
	ms := make([]string, 0, len(rs)+1)
	for _, rt := range rs {
		ms = append(ms, rt.method)
		if rt.method == http.MethodGet {
			ms = append(ms, http.MethodHead)
		}
	}
	return strings.Join(ms, ", ")
}

// authError maps an Authenticate error: 401 or 503.
func authError(err error) *Error {
	if errors.Is(err, auth.ErrUnauthenticated) {
		return &Error{Status: http.StatusUnauthorized, Code: codeUnauthenticated, Message: err.Error(), err: err,
			header: http.Header{"Www-Authenticate": {auth.Challenge(err)}}}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "authentication unavailable", err: err}
}
