package poll

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Handler's fields.
const (
	DefaultLimit    = 100
	DefaultInterval = 2 * time.Second
)

// Latest is the cursor for "the topic's newest message, then what follows
// it", the way to show a current value and keep it up to date. A request
// with after=latest is answered with the newest retained message and its ID
// as the cursor, or, while the topic retains none, with no message and the
// topic's top. Client.Subscribe with Latest delivers that message, then
// everything published after it. It is not a message ID: a broker's
// Subscribe and Read refuse it. It is bus.Latest, as longpoll.Latest is.
//
// The empty cursor, by contrast, means what it means for every
// bus.Subscriber: only what is published from now on.
const Latest = bus.Latest

// Handler answers short-polling requests: GET returns at once the messages
// of a topic that follow the "after" cursor, as JSON (see the package
// documentation for the schema, the parameters and the statuses).
//
// The zero value is not usable: Broker must be set. Other fields have useful
// zero values. Fields must not be changed after the first ServeHTTP. A
// Handler is safe for concurrent use and starts no goroutine.
type Handler struct {
	// Broker holds the topics. Required.
	Broker bus.Broker
	// Topic returns the topic of a request. Nil means the {topic} path
	// value, then the "topic" query parameter. The result is checked with
	// bus.ValidateTopic.
	Topic func(r *http.Request) (string, error)
	// Auth, when set, authenticates every request (401 without valid
	// credentials) and authorizes it to subscribe to the topic (403); see
	// package auth. Nil means no authentication.
	Auth auth.Authorizer
	// Authorize, when set, is called before anything is read, after Auth
	// allowed the request; an error answers 403. Its text is not sent to
	// the client. The identity Auth found is in r's context
	// (auth.FromContext).
	Authorize func(r *http.Request, topic string) error
	// Limit is the most messages one answer carries; a client may ask for
	// fewer with the limit parameter. Zero means DefaultLimit.
	Limit int
	// Interval is the polling interval advised to clients in the
	// X-Poll-Interval header, and the Retry-After of 503 answers. Zero
	// means DefaultInterval.
	Interval time.Duration
	// MaxInFlight bounds the requests served at once; past it the handler
	// answers 503 with Retry-After. Zero means no bound.
	MaxInFlight int
	// Logger receives server-side failures. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, is told of each refusal (Refused), each answer
	// carrying messages (Delivered) and each expired cursor (Reset), as
	// Transport "poll"; see package metrics. Nil means no metrics.
	Metrics metrics.Recorder

	inFlight atomic.Int64
}

func (h *Handler) limit() int {
	if h.Limit > 0 {
		return h.Limit
	}
	return DefaultLimit
}

func (h *Handler) interval() time.Duration {
	if h.Interval > 0 {
		return h.Interval
	}
	return DefaultInterval
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Broker == nil {
		panic("poll: Handler.Broker is nil")
	}
	if n := h.MaxInFlight; n > 0 {
		if h.inFlight.Add(1) > int64(n) {
			h.inFlight.Add(-1)
			pollwire.WriteOverCapacity(w, h.interval())
			pollwire.Refused(h.Metrics, transport, "", http.StatusServiceUnavailable)
			return
		}
		defer h.inFlight.Add(-1)
	}
	req, ok := pollwire.Parse(w, r, pollwire.Config{Topic: h.Topic, Authorize: h.Authorize, Auth: h.Auth, Limit: h.limit(),
		Metrics: h.Metrics, Transport: transport})
	if !ok {
		return
	}
	msgs, cursor, err := h.read(r, req)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	tag := etag(req.Topic, cursor)
	hdr := w.Header()
	hdr.Set("ETag", tag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set(pollwire.HeaderPollInterval, pollwire.FormatInterval(h.interval()))
	if inm := r.Header.Get("If-None-Match"); inm != "" && noneMatch(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := pollwire.AppendBatch(nil, msgs, cursor)
	pollwire.Delivered(h.Metrics, transport, req.Topic, len(msgs), len(body)) // before the client can see it
	pollwire.WriteBatch(w, r, body)
}

// transport is the Transport of the Handler's metrics.
const transport = "poll"

// read returns the messages of the answer and its cursor.
func (h *Handler) read(r *http.Request, req pollwire.Request) ([]bus.Message, string, error) {
	ctx := r.Context()
	switch req.After {
	case "", bus.Oldest, Latest:
		// Top first: a message published between the two calls is then
		// either in the answer or after its cursor, never skipped.
		top, err := h.Broker.Top(ctx, req.Topic)
		if err != nil || req.Limit == 0 || req.After == "" {
			return nil, top, err // "": only what is published from now on
		}
		after, limit := req.After, req.Limit
		if after == Latest {
			after, limit = "", 1 // Read's current state: the newest message
		}
		msgs, err := h.Broker.Read(ctx, req.Topic, after, limit)
		if err != nil {
			return nil, "", err
		}
		if len(msgs) == 0 {
			return nil, top, nil
		}
		return msgs, msgs[len(msgs)-1].ID, nil
	}
	limit := req.Limit
	if limit == 0 {
		limit = 1 // only to check the cursor
	}
	msgs, err := h.Broker.Read(ctx, req.Topic, req.After, limit)
	if req.Limit == 0 {
		msgs = nil
	}
	if err != nil || len(msgs) == 0 {
		return nil, req.After, err
	}
	return msgs, msgs[len(msgs)-1].ID, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, req pollwire.Request, err error) {
	status, _ := pollwire.Classify(err)
	if status >= 500 && h.Logger != nil && r.Context().Err() == nil {
		h.Logger.LogAttrs(r.Context(), slog.LevelError, "poll: read failed",
			slog.String("topic", req.Topic), slog.String("cursor", req.After), slog.Int("status", status),
			slog.String("remote_addr", r.RemoteAddr), slog.Any("error", err))
	}
	pollwire.WriteError(w, err, h.interval())
	pollwire.Failed(h.Metrics, transport, req.Topic, status)
}
