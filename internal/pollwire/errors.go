package pollwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// Error codes of the JSON error body.
const (
	CodeInvalidTopic     = "invalid_topic"
	CodeInvalidCursor    = "invalid_cursor"
	CodeInvalidParameter = "invalid_parameter"
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
	case errors.Is(err, ErrForbidden):
		// The Authorize error may hold details meant for logs only.
		return http.StatusForbidden, ErrorBody{Error: CodeForbidden, Message: "access to the topic is denied"}
	case errors.Is(err, bus.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorBody{Error: CodeUnavailable, Message: "the message bus is not available"}
	}
	return http.StatusInternalServerError, ErrorBody{Error: CodeInternal, Message: "internal error"}
}

// WriteError writes the error answer for err. retryAfter > 0 adds a
// Retry-After header to 503 answers.
func WriteError(w http.ResponseWriter, err error, retryAfter time.Duration) {
	status, body := Classify(err)
	if status == http.StatusServiceUnavailable && retryAfter > 0 {
		w.Header().Set("Retry-After", Seconds(retryAfter))
	}
	WriteErrorBody(w, status, body)
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

// WriteOverCapacity writes 503 over_capacity with Retry-After.
func WriteOverCapacity(w http.ResponseWriter, retryAfter time.Duration) {
	w.Header().Set("Retry-After", Seconds(retryAfter))
	WriteErrorBody(w, http.StatusServiceUnavailable, ErrorBody{Error: CodeOverCapacity, Message: "too many requests in progress; retry later"})
}

// Seconds formats d as whole seconds for Retry-After, rounded up, at least 1.
func Seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// A StatusError is an answer with an unexpected HTTP status.
type StatusError struct {
	StatusCode int    // the HTTP status
	Code       string // the error code of the JSON body, if any
	Message    string // the message of the JSON body, or the start of the body
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
	}
	if e.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.StatusCode)
}

// Temporary reports whether a request answered with this status may succeed
// when repeated: 408, 425, 429 and the 5xx statuses other than 501 and 505.
func (e *StatusError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return e.StatusCode >= 500
}

// DecodeError turns an error answer into a Go error: 410 cursor_expired
// becomes a *bus.CursorError wrapping bus.ErrCursorExpired with its top, 400
// invalid_cursor and invalid_topic wrap the matching bus sentinels (with the
// *StatusError in the chain), anything else is a *StatusError.
func DecodeError(status int, body []byte, topic, cursor string) error {
	var eb ErrorBody
	se := &StatusError{StatusCode: status}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		se.Code, se.Message = eb.Error, eb.Message
	} else {
		se.Message = snippet(body)
	}
	switch {
	case status == http.StatusGone:
		return &bus.CursorError{Topic: topic, Cursor: cursor, Top: eb.Top, Err: fmt.Errorf("%w (%w)", bus.ErrCursorExpired, se)}
	case status == http.StatusBadRequest && se.Code == CodeInvalidCursor:
		return &bus.CursorError{Topic: topic, Cursor: cursor, Err: fmt.Errorf("%w (%w)", bus.ErrInvalidCursor, se)}
	case status == http.StatusBadRequest && se.Code == CodeInvalidTopic:
		return fmt.Errorf("%w (%w)", bus.ErrInvalidTopic, se)
	}
	return se
}

func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
