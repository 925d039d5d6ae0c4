package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/pushpull/pushpull/webhook"
)

// The codes of the API's error answers, {"error":{"code":…,"message":…}}.
const (
	codeInvalid         = "invalid"                // 400: bad JSON, bad value
	codeUnauthenticated = "unauthenticated"        // 401
	codeForbidden       = "forbidden"              // 403
	codeNotFound        = "not_found"              // 404
	codeMethod          = "method_not_allowed"     // 405
	codeConflict        = "conflict"               // 409: version is not the stored one
	codePrecondition    = "precondition_failed"    // 412: If-Match does not match
	codeCursorExpired   = "cursor_expired"         // 410: replay from a position the bus no longer has
	codeTooLarge        = "too_large"              // 413
	codeMediaType       = "unsupported_media_type" // 415
	codeDeliveryFailed  = "delivery_failed"        // 502: a retry, recover or replay could not deliver
	codeTooMany         = "too_many_operations"    // 429: MaxOperations are running
	codeUnavailable     = "unavailable"            // 503
	codeInternal        = "internal"               // 500
)

// An Error is an error answer of the API: its HTTP status and the body
// {"error":{"code":Code,"message":Message}}. A Go client of the API can
// decode the body into an ErrorBody.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`

	err    error       // the cause, logged for 5xx
	header http.Header // extra headers: Allow, WWW-Authenticate
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("admin: %d %s: %s", e.Status, e.Code, e.Message) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	Error Error `json:"error"`
}

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func methodNotAllowed(allow string) *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Code: codeMethod, Message: "method not allowed; allowed: " + allow,
		header: http.Header{"Allow": {allow}}}
}

// toError maps an error of the Store, the Dispatcher or the request to the
// API's answer.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
			Message: fmt.Sprintf("body larger than %d bytes", tooLarge.Limit), err: err}
	case errors.Is(err, webhook.ErrEndpointNotFound), errors.Is(err, webhook.ErrUnknownEndpoint):
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such endpoint", err: err}
	case errors.Is(err, webhook.ErrDeadLetterNotFound), errors.Is(err, webhook.ErrUnknownDelivery):
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such dead letter", err: err}
	case errors.Is(err, webhook.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: codeConflict,
			Message: "the endpoint was changed meanwhile: read it again and retry with its version", err: err}
	case errors.Is(err, webhook.ErrInvalidEndpoint), errors.Is(err, webhook.ErrInvalidSecret):
		return &Error{Status: http.StatusBadRequest, Code: codeInvalid, Message: err.Error(), err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error", err: err}
}

// fail writes the answer of err, logging the cause of server errors
// (not those of a request whose client went away or whose context ended:
// the server did not fail).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	if e.Status >= 500 && h.Logger != nil && r.Context().Err() == nil {
		h.Logger.ErrorContext(r.Context(), "webhook admin: "+e.Message, "method", r.Method, "path", r.URL.Path, "error", e.err)
	}
	for k, v := range e.header {
		w.Header()[k] = v
	}
	writeJSON(w, e.Status, ErrorBody{Error: *e})
}

// writeJSON writes v as the JSON body of an answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
