package fanout

import (
	"context"

	"github.com/pushpull/pushpull/bus"
)

// CheckArgs validates the arguments common to an adapter's Read, Subscribe
// and Top, in the order bus.Memory checks them: the context (its error as
// is), the topic (bus.ErrInvalidTopic), the cursor (a *bus.CursorError
// wrapping bus.ErrInvalidCursor), then closed (bus.ErrClosed). It returns
// the position of after; "" and bus.Oldest give the zero Position.
func CheckArgs(ctx context.Context, topic, after string, closed func() bool) (bus.Position, error) {
	if err := CheckPublish(ctx, topic, ""); err != nil {
		return bus.Position{}, err
	}
	var p bus.Position
	if after != "" && after != bus.Oldest {
		var err error
		if p, err = bus.ParseID(after); err != nil {
			return bus.Position{}, &bus.CursorError{Topic: topic, Cursor: after, Err: bus.ErrInvalidCursor}
		}
	}
	if closed() {
		return p, bus.ErrClosed
	}
	return p, nil
}

// CheckPublish validates the arguments of an adapter's Publish before it
// looks at its own state: the context (its error as is), the topic
// (bus.ErrInvalidTopic) and the message type typ (bus.ValidateType).
func CheckPublish(ctx context.Context, topic, typ string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return err
	}
	return bus.ValidateType(typ)
}
