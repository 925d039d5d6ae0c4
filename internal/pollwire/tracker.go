package pollwire

import (
	"fmt"

	"github.com/pushpull/pushpull/bus"
)

// A tracker checks that the IDs a client receives are contiguous: it drops
// duplicates (IDs at or before the last one delivered) and turns a gap or a
// change of epoch without a 410 into bus.ErrCursorExpired, so a consumer
// never silently misses a message.
type tracker struct {
	topic  string
	prefix string
	last   bus.Position
	has    bool
}

// accept returns the messages of b to deliver and the cursor of the next
// request.
func (t *tracker) accept(b Batch, cursor string) ([]bus.Message, string, error) {
	out := b.Messages[:0:0]
	for i := range b.Messages {
		m := b.Messages[i]
		p, err := bus.ParseID(m.ID)
		if err != nil {
			return nil, "", t.gap(cursor, fmt.Sprintf("message ID %q", m.ID))
		}
		if t.has {
			if p.Epoch == t.last.Epoch && p.Offset <= t.last.Offset {
				continue // duplicate
			}
			if !p.Follows(t.last) {
				return out, "", t.gap(cursor, fmt.Sprintf("message %s does not follow %s", p, t.last))
			}
		}
		out = append(out, m)
		t.last, t.has = p, true
	}
	c, err := bus.ParseID(b.Cursor)
	if err != nil {
		return nil, "", t.gap(cursor, fmt.Sprintf("cursor %q", b.Cursor))
	}
	if !t.has {
		t.last, t.has = c, true
		return out, b.Cursor, nil
	}
	if c.Epoch != t.last.Epoch || c.Offset > t.last.Offset {
		return out, "", t.gap(cursor, fmt.Sprintf("cursor %s skips from %s", c, t.last))
	}
	return out, t.last.ID(), nil
}

func (t *tracker) gap(cursor, what string) error {
	return fmt.Errorf("%s: %w", t.prefix, &bus.CursorError{
		Topic: t.topic, Cursor: cursor,
		Err: fmt.Errorf("%w: the server broke continuity: %s", bus.ErrCursorExpired, what),
	})
}
