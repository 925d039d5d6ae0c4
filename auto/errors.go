package auto

import (
	"errors"
	"time"

	"github.com/pushpull/pushpull/internal/retry"
)

// Errors of package auto. The bus sentinels are wrapped, never copied.
var (
	// ErrNoTransport means no transport could be opened: the server offers
	// none of Client.Transports, or every one failed. A subscription keeps
	// trying while its context lasts; only Subscribe returns it.
	ErrNoTransport = errors.New("auto: no transport works")
	// ErrStalled is why a transport is left when it stays open but does
	// not deliver: the topic's top moved past the last message received
	// and nothing arrived within Client.ProbeTimeout.
	ErrStalled = errors.New("auto: transport connected but does not deliver")
	// ErrConnectTimeout is why a transport is left when it did not open
	// within Client.ConnectTimeout.
	ErrConnectTimeout = errors.New("auto: transport did not open in time")
)

// A StatusError reports an answer of the negotiate or publish route with a
// status other than 200. It has the shape of the other clients'
// StatusError (poll, longpoll, sse, ws).
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error code of the server's JSON error body, such as
	// "forbidden"; empty when the body had none.
	Code string
	// Message is the server's explanation, on one line (at most 200
	// bytes).
	Message string
	// RetryAfter is the wait the server asked for in Retry-After, at most
	// 10 minutes; zero when it sent none.
	RetryAfter time.Duration
}

func newStatusError(s retry.Status) error {
	return &StatusError{StatusCode: s.StatusCode, Code: s.Code, Message: s.Message, RetryAfter: s.RetryAfter}
}

// Error implements error: "auto: server answered 403 Forbidden
// (forbidden): access to the topic is denied".
func (e *StatusError) Error() string {
	return retry.Status{StatusCode: e.StatusCode, Code: e.Code, Message: e.Message, RetryAfter: e.RetryAfter}.Text("auto")
}

// Temporary reports whether the request may succeed when repeated: 408,
// 425, 429 and 5xx but 501 and 505.
func (e *StatusError) Temporary() bool { return retry.Retryable(e.StatusCode) }
