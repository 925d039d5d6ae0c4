package bus

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every broker and transport. Transports wrap them
// with %w and map them to their wire signals (HTTP statuses, SSE events,
// WebSocket error frames); clients map the wire signals back, so consumers
// test with errors.Is whatever transport they use.
var (
	// ErrCursorExpired means a cursor cannot be served whole: it is older
	// than the history, from another epoch (the topic's storage was lost or
	// recreated), or beyond the top. The consumer must reload its state and
	// continue from the topic's current top (see CursorError).
	ErrCursorExpired = errors.New("bus: cursor expired")
	// ErrInvalidCursor means a cursor is not a message ID at all.
	ErrInvalidCursor = errors.New("bus: invalid cursor")
	// ErrSlowConsumer ends a subscription whose consumer stopped reading.
	// Its position is still in the history: subscribe again after the last
	// ID received.
	ErrSlowConsumer = errors.New("bus: slow consumer")
	// ErrClosed is returned by a closed broker or client, and by Err of the
	// subscriptions that a Close ended.
	ErrClosed = errors.New("bus: closed")
	// ErrInvalidTopic means a topic name is empty, too long or contains a
	// character outside the allowed set (see ValidateTopic).
	ErrInvalidTopic = errors.New("bus: invalid topic")
	// ErrInvalidMessage means a message cannot be published as it is, for
	// example its Type contains a control character or it is too large.
	ErrInvalidMessage = errors.New("bus: invalid message")
)

// A CursorError reports a cursor that cannot be served. Err is
// ErrCursorExpired or ErrInvalidCursor; for ErrCursorExpired, Top holds the
// topic's current top so a consumer can reload its state and continue after
// Top with no gap.
type CursorError struct {
	Topic  string // the topic asked for
	Cursor string // the cursor that was refused
	Top    string // the topic's current top (ErrCursorExpired only)
	Err    error  // ErrCursorExpired or ErrInvalidCursor
}

// Error implements error.
func (e *CursorError) Error() string {
	if e.Top != "" {
		return fmt.Sprintf("%v: topic %q after %q (top %q)", e.Err, e.Topic, e.Cursor, e.Top)
	}
	return fmt.Sprintf("%v: topic %q after %q", e.Err, e.Topic, e.Cursor)
}

// Unwrap returns Err, so errors.Is(err, ErrCursorExpired) holds.
func (e *CursorError) Unwrap() error { return e.Err }

// TopOf returns the top carried by a *CursorError in err's chain, if any.
func TopOf(err error) (string, bool) {
	var ce *CursorError
	if errors.As(err, &ce) && ce.Top != "" {
		return ce.Top, true
	}
	return "", false
}
