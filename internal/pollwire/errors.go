package pollwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Error codes of the JSON error body.
const (
	CodeInvalidTopic     = "invalid_topic"
	CodeInvalidCursor    = "invalid_cursor"
	CodeInvalidParameter = "invalid_parameter"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeCursorExpired    = "cursor_expired"
	CodeMethod           = "method_not_allowed"
	CodeOverCapacity     = "over_capacity"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// ErrInvalidParameter reports a malformed query parameter such as limit.
var ErrInvalidParameter = errors.New("invalid parameter")

// ErrForbidden wraps the error of an Authorize function.
var ErrForbidden = errors.New("forbidden")

// ErrAuthUnavailable wraps an Authenticate error that does not wrap
// auth.ErrUnauthenticated: the credentials could not be checked (503).
var ErrAuthUnavailable = errors.New("credentials could not be checked")

// ErrorBody is the JSON body of every answer that is not 200 or 304.
type ErrorBody struct {
	Error   string `json:"error"`             // one of the Code constants
	Message string `json:"message"`           // human-readable detail
	Top     string `json:"top,omitempty"`     // cursor_expired: the topic's current top
	Allowed string `json:"allowed,omitempty"` // method_not_allowed: the allowed methods
}

// Classify maps err to an HTTP status and an error body.
func Classify(err error) (int, ErrorBody) {
	switch {
	case errors.Is(err, bus.ErrCursorExpired):
		top, _ := bus.TopOf(err)
		return http.StatusGone, ErrorBody{Error: CodeCursorExpired, Message: err.Error(), Top: top}
	case errors.Is(err, bus.ErrInvalidCursor):
		return http.StatusBadRequest, ErrorBody{Error: CodeInvalidCursor, Message: err.Error()}
	case errors.Is(err, bus.ErrInvalidTopic):
		return http.StatusBadRequest, ErrorBody{Error: CodeInvalidTopic, Message: err.Error()}
	case errors.Is(err, ErrInvalidParameter):
		return http.StatusBadRequest, ErrorBody{Error: CodeInvalidParameter, Message: err.Error()}
	case errors.Is(err, auth.ErrUnauthenticated):
		// The Authorizer's text is meant for the client (auth.Authorizer).
		return http.StatusUnauthorized, ErrorBody{Error: CodeUnauthorized, Message: err.Error()}
	case errors.Is(err, ErrAuthUnavailable):
		return http.StatusServiceUnavailable, ErrorBody{Error: CodeUnavailable, Message: "credentials could not be checked"}
	case errors.Is(err, ErrForbidden):
		// The Authorize error may hold details meant for logs only.
		return http.StatusForbidden, ErrorBody{Error: CodeForbidden, Message: "access to the topic is denied"}
	case errors.Is(err, bus.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorBody{Error: CodeUnavailable, Message: "the message bus is not available"}
	}
	return http.StatusInternalServerError, ErrorBody{Error: CodeInternal, Message: "internal error"}
}

// WriteError writes the error answer for err and returns its status.
// retryAfter > 0 adds a Retry-After header to 503 answers.
func WriteError(w http.ResponseWriter, err error, retryAfter time.Duration) int {
	status, body := Classify(err)
	if status == http.StatusServiceUnavailable && retryAfter > 0 {
		w.Header().Set("Retry-After", Seconds(retryAfter))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", auth.Challenge(err))
	}
	WriteErrorBody(w, status, body)
	return status
}

// WriteErrorBody writes an error answer.
func WriteErrorBody(w http.ResponseWriter, status int, body ErrorBody) {
	h := w.Header()
	h.Del("ETag")
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteOverCapacity writes 503 over_capacity with Retry-After, and has
// net/http close the connection after it, so that a keep-alive client
// reconnects and a load balancer may send it to another instance.
func WriteOverCapacity(w http.ResponseWriter, retryAfter time.Duration) {
	w.Header().Set("Retry-After", Seconds(retryAfter))
	w.Header().Set("Connection", "close")
	WriteErrorBody(w, http.StatusServiceUnavailable, ErrorBody{Error: CodeOverCapacity, Message: "too many requests in progress; retry later"})
}

// Seconds formats d as whole seconds for Retry-After, rounded up, at least 1.
func Seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// DecodeError turns a refusal, read by retry.ReadStatus from an answer
// whose body is body, into a Go error: 410 cursor_expired becomes a
// *bus.CursorError wrapping bus.ErrCursorExpired with its top, 400
// invalid_cursor and invalid_topic wrap the matching bus sentinels, each
// with the client's StatusError (made by newErr) further down the chain;
// anything else is that StatusError itself.
func DecodeError(st retry.Status, body []byte, topic, cursor, prefix string, newErr func(retry.Status) error) error {
	se := newErr(st)
	switch {
	case st.StatusCode == http.StatusGone:
		var eb ErrorBody
		_ = json.Unmarshal(body, &eb)
		return fmt.Errorf("%s: %w", prefix, &bus.CursorError{Topic: topic, Cursor: cursor, Top: eb.Top, Err: fmt.Errorf("%w (%w)", bus.ErrCursorExpired, se)})
	case st.StatusCode == http.StatusBadRequest && st.Code == CodeInvalidCursor:
		return fmt.Errorf("%s: %w", prefix, &bus.CursorError{Topic: topic, Cursor: cursor, Err: fmt.Errorf("%w (%w)", bus.ErrInvalidCursor, se)})
	case st.StatusCode == http.StatusBadRequest && st.Code == CodeInvalidTopic:
		return fmt.Errorf("%s: %w (%w)", prefix, bus.ErrInvalidTopic, se)
	}
	return se
}
