package fanout

import "github.com/pushpull/pushpull/bus"

// History is what a broker retains of a topic: its epoch, its top offset
// and its oldest retained offset.
type History struct {
	Epoch string
	Top   uint64
	First uint64 // oldest retained offset; Top+1 when nothing is retained
}

// TopPos returns the position of the topic's newest message.
func (h History) TopPos() bus.Position { return bus.Position{Epoch: h.Epoch, Offset: h.Top} }

// Serves reports whether the history holds everything after p.
func (h History) Serves(p bus.Position) bool {
	return p.Epoch == h.Epoch && p.Offset <= h.Top && (p.Offset == h.Top || p.Offset+1 >= h.First)
}

// Expired returns the error for a cursor the history cannot serve: a
// *bus.CursorError wrapping bus.ErrCursorExpired with the top.
func (h History) Expired(topic, cursor string) error {
	return &bus.CursorError{Topic: topic, Cursor: cursor, Top: h.TopPos().ID(), Err: bus.ErrCursorExpired}
}

// Start returns the position a subscription with cursor after, parsed as p
// by CheckArgs, starts from: the top for "", just before the oldest
// retained message for bus.Oldest (never before offset 0, even for a
// history that knows nothing), p itself when the history serves it, and
// Expired otherwise.
func (h History) Start(topic, after string, p bus.Position) (bus.Position, error) {
	switch after {
	case "":
		return h.TopPos(), nil
	case bus.Oldest:
		return bus.Position{Epoch: h.Epoch, Offset: max(h.First, 1) - 1}, nil
	}
	if !h.Serves(p) {
		return bus.Position{}, h.Expired(topic, after)
	}
	return p, nil
}
