package poll

import (
	"time"

	"github.com/pushpull/pushpull/internal/retry"
)

// A StatusError is an answer with an HTTP status the Client cannot use.
// The Client retries the statuses that may pass (408, 425, 429 and 5xx but
// 501 and 505, see the package doc) and ends with a StatusError on the
// others (400, 401, 403, 404 …): Subscribe returns it, or the
// subscription's Err does once it has ended. A 410 is reported as a
// *bus.CursorError wrapping bus.ErrCursorExpired instead, 400
// invalid_cursor and invalid_topic as bus.ErrInvalidCursor and
// bus.ErrInvalidTopic, each with the StatusError further down the chain.
// The other clients (longpoll, sse, ws) have a StatusError of the same
// shape.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error code of the server's JSON error body, such as
	// "forbidden"; empty when the body had none.
	Code string
	// Message is the server's explanation: the message of its JSON error
	// body, or else the start of the body, on one line (at most 200
	// bytes).
	Message string
	// RetryAfter is the wait the server asked for in Retry-After, at most
	// 10 minutes; zero when it sent none.
	RetryAfter time.Duration
}

// Error implements error: "poll: server answered 403 Forbidden (forbidden):
// access to the topic is denied".
func (e *StatusError) Error() string { return retry.Status(*e).Text("poll") }

// Temporary reports whether the Client retries a request answered with this
// status rather than giving up.
func (e *StatusError) Temporary() bool { return retry.Retryable(e.StatusCode) }

// newStatusError makes the StatusError of a refusal.
func newStatusError(s retry.Status) error {
	e := StatusError(s)
	return &e
}
