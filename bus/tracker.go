package bus

import "fmt"

// A Tracker proves that a consumer of one topic misses nothing: it follows
// the IDs the consumer receives, drops duplicates and reports a gap, a
// change of epoch or an ID that is not one as an error, never as a silent
// skip. Every client of this module (sse, ws, longpoll, poll) checks what
// it receives with one, so they all judge continuity alike; a transport
// written elsewhere should too.
//
// The zero Tracker follows a subscription that started with the cursor ""
// (only new messages) of an unnamed topic; NewTracker starts one after any
// cursor. A Tracker is not safe for concurrent use.
type Tracker struct {
	topic  string
	cursor string   // the resume cursor: the last ID, or the starting cursor
	last   Position // valid when known
	known  bool     // last is a position: the first message must follow it
}

// NewTracker returns a Tracker for topic that starts after the cursor after,
// which it checks as Subscribe does: "", Oldest and Latest accept any
// first message, Origin and a message ID only the message that follows
// them. An invalid cursor yields a *CursorError wrapping ErrInvalidCursor.
func NewTracker(topic, after string) (*Tracker, error) {
	if after == Latest {
		return &Tracker{topic: topic, cursor: after}, nil
	}
	p, err := ParseCursor(topic, after)
	if err != nil {
		return nil, err
	}
	t := &Tracker{topic: topic, cursor: after}
	if after != "" && after != Oldest {
		t.last, t.known = p, true
	}
	return t, nil
}

// Cursor returns the cursor to resume after: the ID of the last message
// accepted, or the position the Tracker was moved to, or the starting
// cursor.
func (t *Tracker) Cursor() string { return t.cursor }

// Last returns the position of the last message accepted (or moved to) and
// whether there is one.
func (t *Tracker) Last() (Position, bool) { return t.last, t.known }

// Accept judges the message with ID id: true when it is the next one and
// is to be delivered (the Tracker then moves past it), false when it was
// delivered already (at or before the last ID, in the same epoch). A gap,
// another epoch or an invalid ID yields a *CursorError wrapping
// ErrCursorExpired whose Cursor is where the consumer stands.
func (t *Tracker) Accept(id string) (bool, error) {
	p, err := ParseID(id)
	if err != nil {
		return false, t.gap("message ID %q is not an ID", id)
	}
	if t.known {
		if p.Epoch == t.last.Epoch && p.Offset <= t.last.Offset {
			return false, nil
		}
		if !p.Follows(t.last) {
			return false, t.gap("message %s does not follow %s", id, t.last.ID())
		}
	}
	t.last, t.known, t.cursor = p, true, id
	return true, nil
}

// Reach records that the server says the consumer stands at cursor with
// nothing missed: the position a subscription started after (a WebSocket
// ack), or the cursor that ends a batch. A cursor at or before the last
// message accepted changes nothing; one the Tracker has no reason to
// believe (beyond the last message, or of another epoch) is a gap.
func (t *Tracker) Reach(cursor string) error {
	p, err := ParseID(cursor)
	if err != nil {
		return t.gap("cursor %q is not an ID", cursor)
	}
	switch {
	case !t.known || (t.last.IsZero() && p.Offset == 0):
		t.last, t.known, t.cursor = p, true, cursor
	case p.Epoch == t.last.Epoch && p.Offset <= t.last.Offset:
	default:
		return t.gap("cursor %s skips from %s", cursor, t.last.ID())
	}
	return nil
}

// Reset moves the Tracker to top, the topic's top that an explicit reset
// (a *CursorError, an SSE reset event, a ws reset frame) carried: the
// consumer has been told what it missed and continues after top.
func (t *Tracker) Reset(top string) error {
	p, err := ParseID(top)
	if err != nil {
		return t.gap("reset top %q is not an ID", top)
	}
	t.last, t.known, t.cursor = p, true, top
	return nil
}

func (t *Tracker) gap(format string, args ...any) error {
	return &CursorError{
		Topic:  t.topic,
		Cursor: t.cursor,
		Err:    fmt.Errorf("%w: continuity broken: "+format, append([]any{ErrCursorExpired}, args...)...),
	}
}
