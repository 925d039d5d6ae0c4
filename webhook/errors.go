package webhook

import (
	"errors"
	"net/http"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Errors of signing and verification. The Receiver maps them to HTTP
// statuses (see the table in the package documentation).
var (
	// ErrBodyTooLarge means a request body exceeded Receiver.MaxBodyBytes.
	// It was refused before any signature work (HTTP 413).
	ErrBodyTooLarge = errors.New("webhook: body too large")
	// ErrReadTimeout means the request body did not arrive within
	// Receiver.ReadTimeout (408).
	ErrReadTimeout = errors.New("webhook: body read timed out")
	// ErrMissingHeaders means a required header is absent or empty (400).
	ErrMissingHeaders = errors.New("webhook: missing required headers")
	// ErrInvalidHeaders means a header is malformed, for example a
	// timestamp that is not a plain decimal number of seconds (400).
	ErrInvalidHeaders = errors.New("webhook: invalid headers")
	// ErrTooOld means the signed timestamp is older than the tolerance (400).
	ErrTooOld = errors.New("webhook: timestamp too old")
	// ErrTooNew means the signed timestamp is further in the future than
	// the tolerance (400).
	ErrTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatchingSignature means no signature matched any key (401).
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
	// ErrNoKeys means a keyring holds no usable key for the operation. A
	// Sender stops at once on it, without retries.
	ErrNoKeys = errors.New("webhook: no usable key")
	// ErrInvalidSecret means a secret or key string cannot be decoded.
	ErrInvalidSecret = errors.New("webhook: invalid secret")
	// ErrInvalidID means a message id is empty, too long or contains a
	// character outside [A-Za-z0-9_-].
	ErrInvalidID = errors.New("webhook: invalid message id")
	// ErrGone means the endpoint answered 410 Gone: it is disabled and no
	// more deliveries are attempted until it is enabled again.
	ErrGone = errors.New("webhook: endpoint gone")
	// ErrDisabled means the endpoint is disabled (after a 410 Gone).
	ErrDisabled = errors.New("webhook: endpoint disabled")
	// ErrFailing means an endpoint's deliveries kept failing, without a
	// success, for Dispatcher.DisableAfter: it is disabled as after a
	// 410 Gone, and delivery resumes from the message it stopped at once
	// it is enabled again.
	ErrFailing = errors.New("webhook: endpoint failing too long")
	// ErrForbiddenAddress means the SSRF guard refused to connect to an
	// address (loopback, private, link-local, …). Set
	// Sender.AllowPrivateNetworks to deliver to such addresses. No retry
	// can fix it: the Sender stops at once and the Dispatcher dead-letters
	// the message.
	ErrForbiddenAddress = errors.New("webhook: forbidden address")
	// ErrExhausted means every attempt of a delivery's schedule failed; the
	// delivery is dead-lettered.
	ErrExhausted = errors.New("webhook: retries exhausted")
	// ErrUnknownEndpoint means no endpoint with that id is registered.
	ErrUnknownEndpoint = errors.New("webhook: unknown endpoint")
	// ErrUnknownDelivery means no dead letter with that id is recorded.
	ErrUnknownDelivery = errors.New("webhook: unknown delivery")
)

// Errors of the operating interfaces: Registry, Leases, AttemptLog and
// DeadLetterStore. Every store returns them, wrapped or not, so
// errors.Is tells them apart whatever the storage.
var (
	// ErrEndpointNotFound means the Registry holds no endpoint with that
	// ID.
	ErrEndpointNotFound = errors.New("webhook: endpoint not found")
	// ErrConflict means an update carried a Version other than the stored
	// one, or a create an ID that exists: someone changed the endpoint
	// meanwhile. Read it again and retry.
	ErrConflict = errors.New("webhook: version conflict")
	// ErrInvalidEndpoint means an EndpointConfig cannot be used; the
	// wrapping error says which field is wrong.
	ErrInvalidEndpoint = errors.New("webhook: invalid endpoint")
	// ErrDeadLetterNotFound means no dead letter of that endpoint and
	// delivery is stored.
	ErrDeadLetterNotFound = errors.New("webhook: dead letter not found")
)

// A StatusError is the failure of one attempt whose response had a status
// other than 2xx. The Sender retries every such status but 410 Gone, which
// ends the delivery with ErrGone wrapping the StatusError. Attempt.Error
// holds its text. The clients of the other packages (sse, ws, poll,
// longpoll) have a StatusError of the same shape.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error code of a JSON error body ({"error": code,
	// "message": text}); empty for other bodies.
	Code string
	// Message is the endpoint's explanation: the message of a JSON error
	// body, or else the start of the body, on one line (at most 200
	// bytes).
	Message string
	// RetryAfter is the wait the endpoint asked for in Retry-After, at
	// most Sender.MaxRetryAfter; zero when it sent none. The Sender waits
	// at least that long before retrying a 429, 502, 503 or 504.
	RetryAfter time.Duration
}

// Error implements error: "webhook: server answered 503 Service
// Unavailable: down for maintenance".
func (e *StatusError) Error() string { return retry.Status(*e).Text("webhook") }

// Temporary reports whether the Sender retries a delivery answered with
// this status: every status but 410 Gone.
func (e *StatusError) Temporary() bool { return e.StatusCode != http.StatusGone }

// errTopicFunc wraps errors returned by a Receiver's Topic function that
// are not about an invalid name: the topic does not exist (404).
var errTopicFunc = errors.New("webhook: no such topic")

// statusOf maps a verification error to the Receiver's HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrReadTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrInvalidHeaders),
		errors.Is(err, ErrTooOld), errors.Is(err, ErrTooNew), errors.Is(err, bus.ErrInvalidTopic):
		return http.StatusBadRequest
	case errors.Is(err, errTopicFunc):
		return http.StatusNotFound
	case errors.Is(err, ErrNoMatchingSignature), errors.Is(err, ErrNoKeys):
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}
