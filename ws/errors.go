package ws

import (
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Close codes the Handler uses besides the standard ones (see doc.go).
const (
	// CloseSlowConsumer closes a connection whose queue the application
	// filled with Conn.Send, or whose write took longer than
	// WriteTimeout. (Live messages never fill it: a subscription that
	// falls behind reads on from history.) The client should
	// reconnect and resume from its cursors; it has lost nothing.
	CloseSlowConsumer websocket.StatusCode = 4000
	// CloseExpired closes a connection whose identity (Handler.Auth)
	// expired. The client should reconnect with fresh credentials and
	// resume from its cursors; it has lost nothing.
	CloseExpired websocket.StatusCode = 4001
)

// Errors of the ws package. The bus sentinels (bus.ErrClosed,
// bus.ErrInvalidTopic, …) are wrapped, never copied.
var (
	// ErrForbidden is the cause of an error frame with code "forbidden":
	// Authorize refused the subscribe or publish.
	ErrForbidden = errors.New("ws: forbidden")
	// ErrTooManySubscriptions is the cause of an error frame with code
	// "too_many_subscriptions".
	ErrTooManySubscriptions = errors.New("ws: too many subscriptions")
	// ErrAlreadySubscribed means the connection (or Client) already
	// subscribes to the topic.
	ErrAlreadySubscribed = errors.New("ws: already subscribed")
	// ErrBadRequest is the cause of an error frame with code
	// "bad_request": the server could not use a frame.
	ErrBadRequest = errors.New("ws: bad request")
	// ErrInternal is the cause of an error frame with code "internal".
	ErrInternal = errors.New("ws: internal server error")
	// ErrNoAck fails a Publish whose frame was sent but whose connection
	// broke before the ack arrived: the message may or may not have been
	// stored. Publishes not yet sent when a connection breaks are sent
	// again after the reconnect instead.
	ErrNoAck = errors.New("ws: connection lost before the ack; the message may or may not be stored")
	// ErrNotConnected fails a Subscribe or Publish of a Client whose
	// Connect has not returned successfully.
	ErrNotConnected = errors.New("ws: Client not connected: call Connect first")
)

// A StatusError reports a handshake that the server answered with an HTTP
// status instead of switching protocols, for example 401 from Handler.Auth,
// 403 from a middleware, or 503 over MaxConnections or during Shutdown.
// The Client retries the
// statuses that may pass (408, 425, 429 and 5xx but 501 and 505, see the
// package doc) and stops with a StatusError on the others (400, 401, 403,
// 404 …): Connect returns it, or the subscriptions' Err and later calls do.
// The other clients (poll, longpoll, sse) have a StatusError of the same
// shape.
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
	// Err is the handshake error of the WebSocket library.
	Err error
}

// Error implements error: "ws: server answered 503 Service Unavailable: ws:
// too many connections".
func (e *StatusError) Error() string {
	return retry.Status{StatusCode: e.StatusCode, Code: e.Code, Message: e.Message}.Text("ws")
}

// Unwrap returns the handshake error.
func (e *StatusError) Unwrap() error { return e.Err }

// Temporary reports whether the Client retries a handshake answered with
// this status rather than giving up.
func (e *StatusError) Temporary() bool { return retry.Retryable(e.StatusCode) }

// Permanent reports whether the Client gives up on this status: the
// opposite of Temporary.
//
// Deprecated: use !Temporary(), the method every client's StatusError has.
func (e *StatusError) Permanent() bool { return !e.Temporary() }

// Error codes of error frames, and the errors they stand for.
const (
	codeBadRequest      = "bad_request"
	codeInvalidTopic    = "invalid_topic"
	codeInvalidCursor   = "invalid_cursor"
	codeInvalidMessage  = "invalid_message"
	codeForbidden       = "forbidden"
	codeTooManySubs     = "too_many_subscriptions"
	codeAlreadySub      = "already_subscribed"
	codeCursorExpired   = "cursor_expired"
	codeClosed          = "closed"
	codeSlowConsumer    = "slow_consumer"
	codeInternal        = "internal"
	codeNotSubscribed   = "not_subscribed"
	codeUnsupportedData = "unsupported"
)

var codeErrors = []struct {
	code string
	err  error
}{
	{codeInvalidTopic, bus.ErrInvalidTopic},
	{codeInvalidCursor, bus.ErrInvalidCursor},
	{codeInvalidMessage, bus.ErrInvalidMessage},
	{codeCursorExpired, bus.ErrCursorExpired},
	{codeClosed, bus.ErrClosed},
	{codeSlowConsumer, bus.ErrSlowConsumer},
	{codeForbidden, ErrForbidden},
	{codeTooManySubs, ErrTooManySubscriptions},
	{codeAlreadySub, ErrAlreadySubscribed},
	{codeBadRequest, errEnvelope},
}

// errorCode maps an error to the code of its error frame.
func errorCode(err error) string {
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			return ce.code
		}
	}
	return codeInternal
}

// A ServerError is an error frame received by the Client. It unwraps to the
// error its code stands for (bus.ErrInvalidTopic, ErrForbidden, …), so
// callers test it with errors.Is.
type ServerError struct {
	Code    string // the frame's code, e.g. "forbidden"
	Message string // the server's explanation
}

// Error implements error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("ws: server error %s: %s", e.Code, e.Message)
}

// Unwrap returns the error that Code stands for.
func (e *ServerError) Unwrap() error {
	for _, ce := range codeErrors {
		if ce.code == e.Code {
			if ce.err == errEnvelope {
				return ErrBadRequest
			}
			return ce.err
		}
	}
	return ErrInternal
}
