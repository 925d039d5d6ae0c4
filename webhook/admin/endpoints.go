package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/webhook"
)

// An Endpoint is an endpoint as the API shows it: its configuration with
// its secrets replaced by their fingerprints. Secret holds the new secret
// in the answer of a create and of a rotate, and is empty everywhere else.
type Endpoint struct {
	webhook.EndpointConfig
	// Secrets describe the endpoint's secrets, newest first, without them.
	Secrets []SecretInfo `json:"secrets"`
	// Secret is the secret just created, in whsec_ form: shown once.
	Secret string `json:"secret,omitempty"`
}

// A SecretInfo describes one secret of an endpoint without revealing it.
type SecretInfo struct {
	// Fingerprint is the first 8 bytes of the SHA-256 of the secret's
	// whsec_ form, in hex: enough to tell secrets apart.
	Fingerprint string `json:"fingerprint"`
	// NotAfter is when the secret stops signing; absent for the current one.
	NotAfter time.Time `json:"not_after,omitzero"`
}

// EndpointList is the answer of GET /endpoints.
type EndpointList struct {
	Endpoints []Endpoint `json:"endpoints"`
	// Next, when more endpoints follow, is the "after" of the next page.
	Next string `json:"next,omitempty"`
}

// view returns c as the API shows it.
func view(c webhook.EndpointConfig) Endpoint {
	v := Endpoint{EndpointConfig: c, Secrets: make([]SecretInfo, len(c.Secrets))}
	v.EndpointConfig.Secrets = nil
	for i, s := range c.Secrets {
		sum := sha256.Sum256([]byte(s.Secret))
		v.Secrets[i] = SecretInfo{Fingerprint: hex.EncodeToString(sum[:8]), NotAfter: s.NotAfter}
	}
	return v
}

// answer writes c with its ETag.
func answer(w http.ResponseWriter, status int, c webhook.EndpointConfig, secret string) {
	v := view(c)
	v.Secret = secret
	w.Header().Set("ETag", etag(c.Version))
	writeJSON(w, status, v)
}

// listEndpoints answers a page of the endpoints, by ID: the first limit
// (default webhook.DefaultQueryLimit) after the ID "after".
func (h *Handler) listEndpoints(w http.ResponseWriter, r *http.Request, _ params) error {
	q, err := parseQuery(r, "limit", "after")
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	if err := validID("after", after); err != nil {
		return err
	}
	limit := q.limit
	if limit == 0 {
		limit = webhook.DefaultQueryLimit
	}
	cs, err := h.Store.ListEndpoints(r.Context())
	if err != nil {
		return err
	}
	// The Registry lists by ID; the page starts after "after".
	start, _ := slices.BinarySearchFunc(cs, after, func(c webhook.EndpointConfig, id string) int {
		return strings.Compare(c.ID, id)
	})
	if start < len(cs) && cs[start].ID == after {
		start++
	}
	page := cs[start:min(start+limit, len(cs))]
	out := EndpointList{Endpoints: make([]Endpoint, len(page))}
	for i, c := range page {
		out.Endpoints[i] = view(c)
	}
	if start+limit < len(cs) {
		out.Next = page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getEndpoint(w http.ResponseWriter, r *http.Request, p params) error {
	c, err := h.Store.GetEndpoint(r.Context(), p.endpoint)
	if err != nil {
		return err
	}
	if m, err := version(r, "If-None-Match"); err == nil && m == c.Version {
		w.Header().Set("ETag", etag(c.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	answer(w, http.StatusOK, c, "")
	return nil
}

// createEndpoint creates an endpoint. Without an id one is generated;
// without secrets one is generated and answered once.
func (h *Handler) createEndpoint(w http.ResponseWriter, r *http.Request, _ params) error {
	var c webhook.EndpointConfig
	if err := h.decode(w, r, &c, false); err != nil {
		return err
	}
	if c.Version != 0 {
		return errorf(http.StatusBadRequest, codeInvalid, "version is set by the server; leave it out when creating")
	}
	if err := validID("endpoint", c.ID); err != nil {
		return err
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if err := h.authorize(r.Context(), identity(r), auth.Publish, TopicPrefix+c.ID); err != nil {
		return err
	}
	secret := ""
	if len(c.Secrets) == 0 {
		s, err := webhook.GenerateSecret()
		if err != nil {
			return err
		}
		secret = s.Encode()
		c.Secrets = []webhook.SecretConfig{{Secret: secret}}
	} else {
		secret = c.Secrets[0].Secret
	}
	c.Created, c.Updated = time.Time{}, time.Time{}
	if err := c.Validate(); err != nil {
		return err
	}
	stored, err := h.put(r.Context(), c)
	if errors.Is(err, webhook.ErrConflict) {
		return &Error{Status: http.StatusConflict, Code: codeConflict, Message: "endpoint " + c.ID + " exists already", err: err}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "endpoints/"+stored.ID)
	answer(w, http.StatusCreated, stored, secret)
	return nil
}

// putEndpoint replaces an endpoint's configuration, all but its secrets.
func (h *Handler) putEndpoint(w http.ResponseWriter, r *http.Request, p params) error {
	var c webhook.EndpointConfig
	if err := h.decode(w, r, &c, false); err != nil {
		return err
	}
	if c.ID != "" && c.ID != p.endpoint {
		return errorf(http.StatusBadRequest, codeInvalid, "id %q in the body is not the endpoint %q of the path", c.ID, p.endpoint)
	}
	if len(c.Secrets) > 0 {
		return errorf(http.StatusBadRequest, codeInvalid, "secrets cannot be set by PUT; use POST endpoints/%s/rotate", p.endpoint)
	}
	return h.update(w, r, p.endpoint, c.Version, func(old webhook.EndpointConfig) (webhook.EndpointConfig, error) {
		c.ID, c.Secrets, c.Created = old.ID, old.Secrets, old.Created
		return c, nil
	})
}

// patch is the body of PATCH /endpoints/{id}: the fields present replace
// the stored ones.
type patch struct {
	URL           *string            `json:"url"`
	Topic         *string            `json:"topic"`
	Types         *[]string          `json:"types"`
	From          *string            `json:"from"`
	Headers       *map[string]string `json:"headers"`
	Disabled      *bool              `json:"disabled"`
	RateLimit     *float64           `json:"rate_limit"`
	Burst         *int               `json:"burst"`
	MaxConcurrent *int               `json:"max_concurrent"`
	Description   *string            `json:"description"`
	Version       int64              `json:"version"`
}

func (h *Handler) patchEndpoint(w http.ResponseWriter, r *http.Request, p params) error {
	var pt patch
	if err := h.decode(w, r, &pt, false); err != nil {
		return err
	}
	return h.update(w, r, p.endpoint, pt.Version, func(c webhook.EndpointConfig) (webhook.EndpointConfig, error) {
		set(&c.URL, pt.URL)
		set(&c.Topic, pt.Topic)
		set(&c.Types, pt.Types)
		set(&c.From, pt.From)
		set(&c.Headers, pt.Headers)
		set(&c.Disabled, pt.Disabled)
		set(&c.RateLimit, pt.RateLimit)
		set(&c.Burst, pt.Burst)
		set(&c.MaxConcurrent, pt.MaxConcurrent)
		set(&c.Description, pt.Description)
		return c, nil
	})
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// update reads an endpoint, checks the version the request expects
// (If-Match: 412; version in the body: 409), changes it with change and
// stores it, answering the stored configuration.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, id string, version int64,
	change func(webhook.EndpointConfig) (webhook.EndpointConfig, error)) error {
	return h.updateSecret(w, r, id, version, func(c webhook.EndpointConfig) (webhook.EndpointConfig, string, error) {
		c, err := change(c)
		return c, "", err
	})
}

func (h *Handler) updateSecret(w http.ResponseWriter, r *http.Request, id string, version int64,
	change func(webhook.EndpointConfig) (webhook.EndpointConfig, string, error)) error {
	old, err := h.load(r, id, version)
	if err != nil {
		return err
	}
	c, secret, err := change(old)
	if err != nil {
		return err
	}
	c.Version = old.Version
	if err := c.Validate(); err != nil {
		return err
	}
	stored, err := h.put(r.Context(), c)
	if err != nil {
		return err
	}
	answer(w, http.StatusOK, stored, secret)
	return nil
}

// load reads an endpoint and checks the version the request expects.
func (h *Handler) load(r *http.Request, id string, version int64) (webhook.EndpointConfig, error) {
	m, err := ifMatch(r)
	if err != nil {
		return webhook.EndpointConfig{}, err
	}
	c, err := h.Store.GetEndpoint(r.Context(), id)
	if err != nil {
		return c, err
	}
	if m != 0 && m != c.Version {
		return c, errorf(http.StatusPreconditionFailed, codePrecondition, "If-Match %d: the endpoint is at version %d", m, c.Version)
	}
	if version != 0 && version != c.Version {
		return c, errorf(http.StatusConflict, codeConflict, "version %d: the endpoint is at version %d", version, c.Version)
	}
	return c, nil
}

func (h *Handler) deleteEndpoint(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := h.load(r, p.endpoint, 0); err != nil {
		return err
	}
	del := h.Store.DeleteEndpoint
	if h.follows() {
		del = h.Dispatcher.DeleteEndpoint
	}
	if err := del(r.Context(), p.endpoint); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotation is the body of POST /endpoints/{id}/rotate.
type rotation struct {
	// Secret is the new secret in whsec_ form; empty means a generated one.
	Secret string `json:"secret"`
	// NotAfter is when the older secrets stop signing; zero means now +
	// RotateGrace.
	NotAfter time.Time `json:"not_after"`
	Version  int64     `json:"version"`
}

// rotate puts a new secret first; the older ones sign until not_after,
// and those expired already are dropped.
func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, p params) error {
	var rot rotation
	if err := h.decode(w, r, &rot, true); err != nil {
		return err
	}
	now := h.now()
	if rot.NotAfter.IsZero() {
		rot.NotAfter = now.Add(h.rotateGrace())
	}
	if rot.Secret == "" { // else Validate checks it
		s, err := webhook.GenerateSecret()
		if err != nil {
			return err
		}
		rot.Secret = s.Encode()
	}
	return h.updateSecret(w, r, p.endpoint, rot.Version, func(c webhook.EndpointConfig) (webhook.EndpointConfig, string, error) {
		secrets := []webhook.SecretConfig{{Secret: rot.Secret}}
		for _, s := range c.Secrets {
			if !s.NotAfter.IsZero() && !s.NotAfter.After(now) {
				continue // expired: of no more use
			}
			if s.NotAfter.IsZero() || s.NotAfter.After(rot.NotAfter) {
				s.NotAfter = rot.NotAfter
			}
			if s.Secret != rot.Secret {
				secrets = append(secrets, s)
			}
		}
		c.Secrets = secrets
		return c, rot.Secret, nil
	})
}

// toggle is the body of POST /endpoints/{id}/disable and /enable.
type toggle struct {
	Version int64 `json:"version"`
}

func (h *Handler) disable(w http.ResponseWriter, r *http.Request, p params) error {
	return h.setDisabled(w, r, p, true)
}

func (h *Handler) enable(w http.ResponseWriter, r *http.Request, p params) error {
	return h.setDisabled(w, r, p, false)
}

func (h *Handler) setDisabled(w http.ResponseWriter, r *http.Request, p params, disabled bool) error {
	var t toggle
	if err := h.decode(w, r, &t, true); err != nil {
		return err
	}
	return h.update(w, r, p.endpoint, t.Version, func(c webhook.EndpointConfig) (webhook.EndpointConfig, error) {
		c.Disabled = disabled
		return c, nil
	})
}

// follows reports whether the Dispatcher follows a Registry, so changes go
// through it and apply at once.
func (h *Handler) follows() bool {
	return h.Dispatcher != nil && (h.Dispatcher.Registry != nil || h.Dispatcher.Store != nil)
}

// put stores c: through the Dispatcher when it follows a Registry, so it
// applies the change at once, else in the Store.
func (h *Handler) put(ctx context.Context, c webhook.EndpointConfig) (webhook.EndpointConfig, error) {
	if h.follows() {
		return h.Dispatcher.PutEndpoint(ctx, c)
	}
	return h.Store.PutEndpoint(ctx, c)
}

// newID returns a random endpoint ID, "ep_" and 16 base32 characters.
func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "ep_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
