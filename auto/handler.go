package auto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
)

// Transport names, as the negotiate answer lists them and Client.Transports
// and Handler.Transports take them.
const (
	WebSocket = "websocket"
	SSE       = "sse"
	LongPoll  = "longpoll"
	Poll      = "poll"
)

// DefaultTransports is the order of preference of the Handler and the
// clients when none is given: the first that works is used.
var defaultTransports = []string{WebSocket, SSE, LongPoll, Poll}

// DefaultTransports returns the four transports in their default order:
// WebSocket, SSE, long polling, polling.
func DefaultTransports() []string { return append([]string(nil), defaultTransports...) }

// DefaultMaxMessageBytes is the default of Handler.MaxMessageBytes.
const DefaultMaxMessageBytes = 64 << 10

// An Action is what a request asks to do with a topic; Authorize receives
// it. It is auth.Action: the hook and Auth are asked the same questions.
type Action = auth.Action

// The actions Authorize is asked about.
const (
	ActionSubscribe = auth.Subscribe
	ActionPublish   = auth.Publish
)

// Handler serves topics of one Broker over every transport under one path
// prefix (see the package documentation for the routes):
//
//	h := &auto.Handler{Broker: b, Prefix: "/rt"}
//	mux.Handle("/rt/", h)
//	srv.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
//
// It composes a ws.Handler, an sse.Handler, a longpoll.Handler and a
// poll.Handler that share Broker, Auth, Authorize, the limits and Logger, and adds
// the negotiate answer, HTTP publishing and the browser module.
//
// The zero value is not usable: Broker must be set. Other fields have useful
// zero values and must not be changed after the first ServeHTTP. A Handler
// is safe for concurrent use.
type Handler struct {
	// Broker stores and fans out the messages. Required.
	Broker bus.Broker
	// Prefix is the path the Handler is mounted at, such as "/rt"; the
	// routes are Prefix + "/negotiate", "/ws" and so on. Empty means the
	// root (or a Handler behind http.StripPrefix).
	Prefix string
	// Transports lists the transports served, in the order clients should
	// try them. Nil means DefaultTransports. A transport left out is
	// switched off: its route answers 404 and negotiate does not list it.
	Transports []string
	// DisablePublish switches the HTTP publish route off (404). Publishing
	// over WebSocket is governed by Auth and Authorize alone.
	DisablePublish bool
	// Auth, when set, authenticates every request (negotiate, publish and
	// the four transports) and authorizes every subscription and publish,
	// as package auth describes: 401 with WWW-Authenticate without valid
	// credentials, 503 when they cannot be checked, 403 (over WebSocket
	// an error frame with code "forbidden") for a topic not granted. Live
	// connections end when their identity expires (WebSocket: close code
	// ws.CloseExpired). Nil means no authentication.
	Auth auth.Authorizer
	// Authorize, when set, is asked after Auth allowed the request (the
	// identity is in r's context, auth.FromContext) before every
	// subscription (on every transport and for negotiate with a topic)
	// and every publish (over WebSocket or HTTP). A non-nil error refuses
	// it: 403 over HTTP, an error frame with code "forbidden" over
	// WebSocket.
	Authorize func(r *http.Request, action Action, topic string) error
	// OnPublish, when set, sees every message published over WebSocket or
	// HTTP after it was authorized and before it reaches the Broker, with
	// the publisher's identity (nil without Auth): it may change m's Type,
	// Data and Meta (stamp it, e.g. with auth.Stamp), or refuse it with an
	// error: 403 forbidden over HTTP (400 invalid_message for an error
	// wrapping bus.ErrInvalidMessage), an error frame over WebSocket.
	// m.Topic is the topic; changing it has no effect. ctx is the
	// request's or the WebSocket connection's.
	OnPublish func(ctx context.Context, id *auth.Identity, m *bus.Message) error
	// OriginPatterns lists the foreign origins (host patterns such as
	// "*.example.com", as path.Match sees them) allowed to open WebSocket
	// connections and to publish over HTTP. The request's own host is
	// always allowed, as are requests without an Origin header.
	OriginPatterns []string
	// MaxMessageBytes bounds a publish request's body and a WebSocket
	// frame from a client. Zero means DefaultMaxMessageBytes (64 KiB).
	// Larger HTTP bodies get 413.
	MaxMessageBytes int64
	// MaxConnections caps the WebSocket connections, the SSE streams and
	// the held long-polling requests, each; past it a transport answers
	// 503 with Retry-After and clients retry or fall back. Zero means each
	// transport's default.
	MaxConnections int
	// Heartbeat is the SSE heartbeat and the WebSocket ping interval. Zero
	// means each transport's default (15 s and 30 s).
	Heartbeat time.Duration
	// LongPollTimeout is the longest a long-polling request is held. Zero
	// means longpoll.DefaultTimeout (25 s).
	LongPollTimeout time.Duration
	// PollInterval is the interval advised to polling clients. Zero means
	// poll.DefaultInterval (2 s).
	PollInterval time.Duration
	// Logger receives server-side failures. Nil means nothing is logged.
	Logger *slog.Logger

	once      sync.Once
	enabled   map[string]bool
	order     []string
	negotiate []byte
	ws        *ws.Handler
	sse       *sse.Handler
	longpoll  *longpoll.Handler
	poll      *poll.Handler
}

// routes maps a path below Prefix to its transport.
var routes = map[string]string{"/ws": WebSocket, "/sse": SSE, "/longpoll": LongPoll, "/poll": Poll}

func (h *Handler) init() {
	h.once.Do(func() {
		if h.Broker == nil {
			panic("auto: Handler.Broker is nil")
		}
		h.order = h.Transports
		if h.order == nil {
			h.order = defaultTransports
		}
		h.enabled = make(map[string]bool)
		for _, t := range h.order {
			h.enabled[t] = true
		}
		logger := h.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		topicOf := func(r *http.Request) (string, error) { return r.URL.Query().Get("topic"), nil }
		authorize := func(action Action) func(*http.Request, string) error {
			if h.Authorize == nil {
				return nil
			}
			return func(r *http.Request, topic string) error { return h.Authorize(r, action, topic) }
		}
		h.ws = &ws.Handler{
			Broker:         h.Broker,
			OriginPatterns: h.OriginPatterns,
			ReadLimit:      h.maxMessageBytes(),
			PingInterval:   h.Heartbeat,
			MaxConnections: h.MaxConnections,
			Logger:         logger,
			Auth:           h.Auth,
		}
		if h.OnPublish != nil {
			h.ws.OnPublish = func(ctx context.Context, c *ws.Conn, m *bus.Message) error {
				return h.OnPublish(ctx, c.Identity(), m)
			}
		}
		if h.Authorize != nil {
			h.ws.Authorize = h.Authorize
		}
		h.sse = &sse.Handler{Broker: h.Broker, Topic: topicOf, Auth: h.Auth, Authorize: authorize(ActionSubscribe),
			Heartbeat: h.Heartbeat, MaxStreams: h.MaxConnections, Logger: h.Logger}
		h.longpoll = &longpoll.Handler{Broker: h.Broker, Topic: topicOf, Auth: h.Auth, Authorize: authorize(ActionSubscribe),
			Timeout: h.LongPollTimeout, MaxHeld: h.MaxConnections, Logger: h.Logger}
		h.poll = &poll.Handler{Broker: h.Broker, Topic: topicOf, Auth: h.Auth, Authorize: authorize(ActionSubscribe),
			Interval: h.PollInterval, Logger: h.Logger}
		h.negotiate = h.negotiateBody()
	})
}

func (h *Handler) maxMessageBytes() int64 {
	if h.MaxMessageBytes > 0 {
		return h.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

// ServeHTTP implements http.Handler: it routes the request to the
// transport, the negotiate answer, the publish route or the browser module
// by its path below Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	p, ok := strings.CutPrefix(r.URL.Path, h.Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch p {
	case "/ws":
		h.serve(w, r, WebSocket, h.ws)
	case "/sse":
		h.serve(w, r, SSE, h.sse)
	case "/longpoll":
		h.serve(w, r, LongPoll, h.longpoll)
	case "/poll":
		h.serve(w, r, Poll, h.poll)
	case "/negotiate":
		h.serveNegotiate(w, r)
	case "/publish":
		if h.DisablePublish {
			http.NotFound(w, r)
			return
		}
		h.servePublish(w, r)
	case "/client.js":
		serveClientJS(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, transport string, next http.Handler) {
	if !h.enabled[transport] {
		http.NotFound(w, r)
		return
	}
	next.ServeHTTP(w, r)
}

// Shutdown ends the WebSocket connections, SSE streams and held long-polling
// requests, refuses new ones with 503 (clients go elsewhere) and waits for
// them until ctx is done. http.Server.Shutdown ends none of them; register
// it:
//
//	srv.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
func (h *Handler) Shutdown(ctx context.Context) error {
	h.init()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, f := range []func(context.Context) error{h.ws.Shutdown, h.sse.Shutdown, h.longpoll.Shutdown} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// negotiateAnswer is the JSON body of GET Prefix/negotiate.
type negotiateAnswer struct {
	Transports []negotiateTransport `json:"transports"`
	Publish    string               `json:"publish,omitempty"`
	Top        string               `json:"top,omitempty"`
	Latest     string               `json:"latest,omitempty"`
}

type negotiateTransport struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

func (h *Handler) negotiateBody() []byte {
	var a negotiateAnswer
	a.Transports = []negotiateTransport{}
	for _, t := range h.order {
		for route, name := range routes {
			if name == t {
				a.Transports = append(a.Transports, negotiateTransport{Name: t, URL: path.Base(route)})
			}
		}
	}
	if !h.DisablePublish {
		a.Publish = "publish"
	}
	b, _ := json.Marshal(a)
	return b
}

// serveNegotiate answers GET negotiate: the transports, and with a topic
// parameter the topic's top, after Auth and Authorize allowed a
// subscription.
func (h *Handler) serveNegotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		pollwire.WriteErrorBody(w, http.StatusMethodNotAllowed, pollwire.ErrorBody{Error: pollwire.CodeMethod, Message: "use GET", Allowed: "GET, HEAD"})
		return
	}
	r, id, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	body := h.negotiate
	if r.URL.Query().Has("topic") {
		topic, err := httptopic.FromRequest(r)
		if err != nil {
			pollwire.WriteError(w, err, 0)
			return
		}
		if !h.authorize(w, r, id, ActionSubscribe, topic) {
			return
		}
		top, err := h.Broker.Top(r.Context(), topic)
		if err != nil {
			h.logError("auto: negotiate: top", topic, err)
			pollwire.WriteError(w, err, time.Second)
			return
		}
		var a negotiateAnswer
		_ = json.Unmarshal(h.negotiate, &a)
		a.Top = top
		if r.URL.Query().Get("after") == bus.Latest {
			// Resolved once here, so every transport the client may
			// switch to starts from the same position.
			if a.Latest, err = bus.LatestCursor(r.Context(), h.Broker, topic); err != nil {
				h.logError("auto: negotiate: latest", topic, err)
				pollwire.WriteError(w, err, time.Second)
				return
			}
		}
		body, _ = json.Marshal(a)
	}
	w.Header().Set("Content-Type", pollwire.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// authenticate runs Auth on r, when set, and answers 401 or 503 itself
// when it fails. It returns r with the identity in its context.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, *auth.Identity, bool) {
	if h.Auth == nil {
		return r, nil, true
	}
	r, id, err := auth.Authenticate(h.Auth, r)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			h.logError("auto: credentials could not be checked", r.URL.Query().Get("topic"), err)
			err = fmt.Errorf("%w: %w", pollwire.ErrAuthUnavailable, err)
		}
		pollwire.WriteError(w, err, time.Second)
		return r, nil, false
	}
	return r, id, true
}

// authorize asks Auth, then Authorize, whether the request may do action
// on topic, and answers 403 itself when not.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, id *auth.Identity, action Action, topic string) bool {
	if h.Auth != nil {
		if err := h.Auth.Authorize(r.Context(), id, action, topic); err != nil {
			pollwire.WriteError(w, fmt.Errorf("%w: %w", pollwire.ErrForbidden, err), 0)
			return false
		}
	}
	if h.Authorize != nil {
		if err := h.Authorize(r, action, topic); err != nil {
			pollwire.WriteError(w, fmt.Errorf("%w: %w", pollwire.ErrForbidden, err), 0)
			return false
		}
	}
	return true
}

func (h *Handler) logError(msg, topic string, err error) {
	if h.Logger != nil {
		h.Logger.Warn(msg, "topic", topic, "err", err)
	}
}
