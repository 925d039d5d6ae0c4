package sse

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Errors of package sse. The bus sentinels (bus.ErrCursorExpired,
// bus.ErrInvalidCursor, bus.ErrInvalidTopic, bus.ErrClosed) are wrapped,
// never copied.
var (
	// ErrStopped ends a Client subscription whose server answered
	// 204 No Content: the WHATWG signal to stop reconnecting for good.
	ErrStopped = errors.New("sse: server asked the client to stop (204 No Content)")
	// ErrNotEventStream means a 200 response was not text/event-stream.
	ErrNotEventStream = errors.New("sse: response is not text/event-stream")
	// ErrShutdown is the reason a Handler gives to requests that arrive
	// after Shutdown was called.
	ErrShutdown = errors.New("sse: handler is shutting down")
	// ErrTooManyStreams refuses a stream past Handler.MaxStreams.
	ErrTooManyStreams = errors.New("sse: too many streams")
	// ErrForbidden is what a Handler answers when Authorize refuses.
	ErrForbidden = errors.New("sse: forbidden")
	// ErrEncode means a message cannot be written as an SSE event: its ID
	// or Type contains CR, LF or NUL, or its Type is the reserved "reset".
	ErrEncode = errors.New("sse: message cannot be encoded")
)

// An EventTooLargeError is returned by Parser.Next (and ends a Client
// subscription) when an event or one of its lines exceeds the maximum size.
type EventTooLargeError struct {
	Max int // the limit in bytes
}

// Error implements error.
func (e *EventTooLargeError) Error() string {
	return fmt.Sprintf("sse: event larger than %d bytes", e.Max)
}

// A StatusError reports a response status other than 200 and 204. The
// Client retries the statuses that may pass (408, 425, 429 and 5xx but 501
// and 505, plus Client.RetryStatuses) and ends with a StatusError on the
// others (400, 401, 403, 404 …): Subscribe returns it, or the
// subscription's Err does once it has ended. The other clients (poll,
// longpoll, ws) have a StatusError of the same shape.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error code of a JSON error body ({"error": code,
	// "message": text}); empty for the Handler's plain-text answers.
	Code string
	// Message is the server's explanation: the message of a JSON error
	// body, or else the start of the body, on one line (at most 200
	// bytes).
	Message string
	// RetryAfter is the wait the server asked for in Retry-After, at most
	// 10 minutes; zero when it sent none.
	RetryAfter time.Duration
}

// Error implements error: "sse: server answered 404 Not Found: sse: no
// such topic".
func (e *StatusError) Error() string { return retry.Status(*e).Text("sse") }

// Temporary reports whether the Client retries a request answered with this
// status by default (Client.RetryStatuses may add more).
func (e *StatusError) Temporary() bool { return retry.Retryable(e.StatusCode) }

// statusOf maps an error met before a stream starts to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, bus.ErrInvalidTopic), errors.Is(err, bus.ErrInvalidCursor):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooManyStreams), errors.Is(err, ErrShutdown), errors.Is(err, bus.ErrClosed), errors.Is(err, errAuthUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errTopicFunc):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// errTopicFunc wraps errors returned by a Handler's Topic function that are
// not about an invalid name: the topic does not exist (404).
var errTopicFunc = errors.New("sse: no such topic")

// errAuthUnavailable wraps an Authenticate error that does not wrap
// auth.ErrUnauthenticated: the credentials could not be checked (503).
var errAuthUnavailable = errors.New("sse: credentials could not be checked")

// errMethod refuses a request whose method is neither GET nor HEAD (405).
var errMethod = errors.New("sse: method not allowed; use GET")
