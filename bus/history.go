package bus

import "context"

// A History is what a broker retains of a topic: its epoch, its top offset
// and its oldest retained offset. It is the one place where cursors are
// judged: every broker in this module and in bus/redisbus and bus/natsbus
// reads its topic's History and asks it where a subscription starts and
// which cursors have expired, so they all answer alike. Broker authors
// should do the same.
//
// The zero History is a topic that does not exist (or has no epoch yet):
// its top is Origin.
type History struct {
	Epoch string // the topic's epoch; "" when the topic has none
	Top   uint64 // offset of the newest message; 0 when none was published
	First uint64 // oldest retained offset; Top+1 when nothing is retained
}

// TopPos returns the position of the topic's newest message. It is the zero
// Position while the topic has none.
func (h History) TopPos() Position {
	if h.Top == 0 {
		return Position{}
	}
	return Position{Epoch: h.Epoch, Offset: h.Top}
}

// TopID returns the ID of the topic's newest message, or Origin while the
// topic has none: what Reader.Top returns.
func (h History) TopID() string { return h.TopPos().ID() }

// first returns the oldest retained offset, filling in the zero History.
func (h History) first() uint64 { return max(h.First, 1) }

// Serves reports whether the history holds everything after p: p is of the
// topic's epoch, not beyond the top, and the message after it is retained
// (or p is the top). The zero Position is served while the topic's first
// message is still retained or none was published.
func (h History) Serves(p Position) bool {
	if p.IsZero() {
		return h.first() <= 1
	}
	return p.Epoch == h.Epoch && p.Offset <= h.Top && (p.Offset == h.Top || p.Offset+1 >= h.first())
}

// Expired returns the error for a cursor of topic the history cannot serve:
// a *CursorError wrapping ErrCursorExpired that carries TopID.
func (h History) Expired(topic, cursor string) error {
	return &CursorError{Topic: topic, Cursor: cursor, Top: h.TopID(), Err: ErrCursorExpired}
}

// Start returns the position after which a subscription with cursor after
// starts, p being after as ParseCursor returned it: the top for "", just
// before the oldest retained message for Oldest, and p itself when the
// history serves it, in the topic's epoch. A cursor the history cannot
// serve gives Expired. For a topic with no epoch, every servable cursor
// starts at the zero Position, after which the topic's first message
// follows whatever epoch it gets.
func (h History) Start(topic, after string, p Position) (Position, error) {
	switch after {
	case "":
		if h.Epoch == "" {
			return Position{}, nil
		}
		return Position{Epoch: h.Epoch, Offset: h.Top}, nil
	case Oldest:
		if h.Epoch == "" {
			return Position{}, nil
		}
		return Position{Epoch: h.Epoch, Offset: h.first() - 1}, nil
	}
	if !h.Serves(p) {
		return Position{}, h.Expired(topic, after)
	}
	if p.IsZero() {
		return Position{Epoch: h.Epoch}, nil
	}
	return p, nil
}

// ParseCursor checks the cursor after of topic as Subscribe and Read take
// it and returns its position: the zero Position for "" and Oldest, the
// parsed ID otherwise. A cursor that is not an ID yields a *CursorError
// wrapping ErrInvalidCursor.
func ParseCursor(topic, after string) (Position, error) {
	if after == "" || after == Oldest {
		return Position{}, nil
	}
	p, err := ParseID(after)
	if err != nil {
		return Position{}, &CursorError{Topic: topic, Cursor: after, Err: ErrInvalidCursor}
	}
	return p, nil
}

// CheckArgs validates the arguments of a broker's Read, Subscribe and Top
// in the order every broker of this module checks them: the context (its
// error as is), the topic (ErrInvalidTopic), the cursor (ParseCursor), then
// closed (ErrClosed; closed may be nil). It returns the cursor's position.
func CheckArgs(ctx context.Context, topic, after string, closed func() bool) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	if err := ValidateTopic(topic); err != nil {
		return Position{}, err
	}
	p, err := ParseCursor(topic, after)
	if err != nil {
		return Position{}, err
	}
	if closed != nil && closed() {
		return p, ErrClosed
	}
	return p, nil
}

// CheckPublish validates the arguments of a broker's Publish before it looks
// at its own state: the context (its error as is), the topic
// (ErrInvalidTopic) and the message (ValidateType).
func CheckPublish(ctx context.Context, topic string, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	return ValidateType(m.Type)
}
