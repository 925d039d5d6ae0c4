package pollwire

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/metrics"
)

// Query parameters.
const (
	ParamAfter   = "after"
	ParamLimit   = "limit"
	ParamTimeout = "timeout"
)

// Latest is the cursor for "the topic's newest message, then what follows
// it", exported as poll.Latest and longpoll.Latest. It is not a message ID,
// so it names no position a broker could be asked for: the handlers read the
// newest message with bus.Reader.Read(ctx, topic, "", 1) and continue
// after it.
const Latest = "latest"

// A Request is a parsed poll or long-poll request.
type Request struct {
	Topic string
	After string // "", bus.Oldest, Latest, bus.Origin or a message ID
	Limit int    // messages wanted, in [0, the handler's limit]
	// Wait is how long to hold the request (the timeout parameter, at
	// most Config.Timeout), when Config.Timeout is set.
	Wait time.Duration
	// Identity is who the request is, when the handler has an Auth.
	Identity *auth.Identity
}

// Config is what a handler needs to parse a request.
type Config struct {
	Topic     func(*http.Request) (string, error)
	Authorize func(*http.Request, string) error
	Auth      auth.Authorizer // nil: no authentication
	Limit     int             // the most messages one answer carries
	// Timeout, when set, is the longest a request may be held: Parse
	// reads the timeout parameter into Request.Wait.
	Timeout time.Duration
	// Metrics, when set, is told of each refusal as Transport.
	Metrics   metrics.Recorder
	Transport string
}

// Parse checks the method and reads the topic, the cursor and the limit of r,
// then authorizes it. It writes the error answer itself and returns false
// when the request cannot be served.
func Parse(w http.ResponseWriter, r *http.Request, cfg Config) (Request, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteErrorBody(w, http.StatusMethodNotAllowed, ErrorBody{Error: CodeMethod, Message: "use GET", Allowed: "GET, HEAD"})
		Refused(cfg.Metrics, cfg.Transport, "", http.StatusMethodNotAllowed)
		return Request{}, false
	}
	var id *auth.Identity
	if cfg.Auth != nil {
		var err error
		if r, id, err = auth.Authenticate(cfg.Auth, r); err != nil {
			cfg.refuse(w, "", authError(err))
			return Request{}, false
		}
	}
	topic, err := httptopic.Resolve(r, cfg.Topic)
	if err != nil {
		cfg.refuse(w, "", err)
		return Request{}, false
	}
	q := r.URL.Query()
	req := Request{Topic: topic, After: q.Get(ParamAfter), Limit: cfg.Limit, Identity: id}
	if _, err := bus.ParseCursor(topic, req.After); err != nil && req.After != Latest {
		cfg.refuse(w, topic, err)
		return Request{}, false
	}
	if v, ok := q[ParamLimit]; ok && len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			cfg.refuse(w, topic, fmt.Errorf("%w: limit %q is not a number >= 0", ErrInvalidParameter, v[0]))
			return Request{}, false
		}
		req.Limit = min(n, cfg.Limit)
	}
	if cfg.Auth != nil {
		if err := cfg.Auth.Authorize(r.Context(), id, auth.Subscribe, topic); err != nil {
			cfg.refuse(w, topic, fmt.Errorf("%w: %w", ErrForbidden, err))
			return Request{}, false
		}
	}
	if cfg.Authorize != nil {
		if err := cfg.Authorize(r, topic); err != nil {
			cfg.refuse(w, topic, fmt.Errorf("%w: %w", ErrForbidden, err))
			return Request{}, false
		}
	}
	if cfg.Timeout > 0 {
		if req.Wait, err = ParseTimeout(q, cfg.Timeout); err != nil {
			cfg.refuse(w, topic, err)
			return Request{}, false
		}
	}
	return req, true
}

// refuse answers err and reports it as a refusal, unless it is a server
// failure (5xx: credentials that could not be checked).
func (cfg *Config) refuse(w http.ResponseWriter, topic string, err error) {
	if status := WriteError(w, err, 0); status < 500 {
		Refused(cfg.Metrics, cfg.Transport, topic, status)
	}
}

// Refused reports to rec, when set, that a request for topic was refused
// with status before anything was sent.
func Refused(rec metrics.Recorder, transport, topic string, status int) {
	if rec == nil {
		return
	}
	rec.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Topic: topic, Status: status, Outcome: RefusalReason(status)})
}

// Failed reports to rec, when set, an error answered with status after the
// request was parsed: 410 as a Reset, other 4xx as a refusal. Server
// failures (5xx) are not refusals and are not reported.
func Failed(rec metrics.Recorder, transport, topic string, status int) {
	switch {
	case rec == nil || status >= 500:
	case status == http.StatusGone:
		rec.Record(metrics.Event{Kind: metrics.Reset, Transport: transport, Topic: topic})
	default:
		Refused(rec, transport, topic, status)
	}
}

// Delivered reports to rec, when set, an answer of n > 0 messages in size
// bytes.
func Delivered(rec metrics.Recorder, transport, topic string, n, size int) {
	if rec != nil && n > 0 {
		rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: transport, Topic: topic, N: int64(n), Bytes: int64(size)})
	}
}

// RefusalReason is the reason reported with a refusal answered with status:
// "forbidden", "unauthorized", "capacity" (503) or "invalid".
func RefusalReason(status int) string {
	switch status {
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return "capacity"
	}
	return "invalid"
}

// authError is the error answered for a failed Authenticate: 401 for
// credentials that are not valid, 503 when they could not be checked.
func authError(err error) error {
	if errors.Is(err, auth.ErrUnauthenticated) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrAuthUnavailable, err)
}

// ParseTimeout reads the timeout parameter: seconds, an integer or a decimal
// number >= 0. It returns def when the parameter is absent and never more
// than def.
func ParseTimeout(q url.Values, def time.Duration) (time.Duration, error) {
	v := q.Get(ParamTimeout)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f != f {
		return 0, fmt.Errorf("%w: timeout %q is not a number of seconds >= 0", ErrInvalidParameter, v)
	}
	if f*float64(time.Second) >= float64(def) {
		return def, nil
	}
	return time.Duration(f * float64(time.Second)), nil
}

// WriteBatch writes a 200 answer with the batch. The caller sets any other
// header before. A HEAD request gets the headers only.
func WriteBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
