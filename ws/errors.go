package ws

import (
	"errors"
	"fmt"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
)

// Close codes the Handler uses besides the standard ones (see doc.go).
const (
	// CloseSlowConsumer closes a connection whose send queue filled up or
	// whose write took longer than WriteTimeout. The client should
	// reconnect and resume from its cursors; it has lost nothing.
	CloseSlowConsumer websocket.StatusCode = 4000
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
	// ErrGap means the server skipped a message; the Client reconnects
	// and resumes from its cursor when it sees one.
	ErrGap = errors.New("ws: gap in the message stream")
)

// A StatusError reports a handshake that the server answered with an HTTP
// status instead of switching protocols, for example 403 from Authorize or
// 503 over MaxConnections.
type StatusError struct {
	StatusCode int
	Err        error // the handshake error
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("ws: handshake refused with status %d: %v", e.StatusCode, e.Err)
}

// Unwrap returns the handshake error.
func (e *StatusError) Unwrap() error { return e.Err }

// Permanent reports whether trying again cannot help: a 4xx status other
// than 408 (timeout) and 429 (too many requests). A Client that gets one
// while reconnecting stops and ends its subscriptions with the error.
func (e *StatusError) Permanent() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != 408 && e.StatusCode != 429
}

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
