package longpoll

import (
	"context"
	"errors"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
)

var (
	errGone         = errors.New("longpoll: client gone")
	errOverCapacity = errors.New("longpoll: too many held requests")
)

// answer returns the messages and cursor of the answer to req, waiting up to
// wait for the first message.
func (h *Handler) answer(ctx context.Context, req pollwire.Request, wait time.Duration, stop <-chan struct{}) ([]bus.Message, string, error) {
	cursor := req.After
	if cursor == "" || cursor == bus.Oldest {
		// Top before Read: a message published in between is then either
		// read or after the cursor, never skipped.
		top, err := h.Broker.Top(ctx, req.Topic)
		if err != nil {
			return nil, "", err
		}
		if cursor == "" {
			cursor = top
		} else if req.Limit > 0 {
			msgs, err := h.Broker.Read(ctx, req.Topic, bus.Oldest, req.Limit)
			if err != nil {
				return nil, "", err
			}
			if len(msgs) > 0 {
				return msgs, lastID(msgs), nil
			}
			cursor = top
		}
	}
	if req.Limit == 0 {
		return nil, cursor, nil
	}
	msgs, err := h.Broker.Read(ctx, req.Topic, cursor, req.Limit)
	if err != nil {
		return nil, "", err
	}
	if len(msgs) > 0 || wait <= 0 {
		return msgs, lastIDOr(msgs, cursor), nil
	}
	return h.hold(ctx, req, cursor, wait, stop)
}

// hold waits for the first message after cursor.
func (h *Handler) hold(ctx context.Context, req pollwire.Request, cursor string, wait time.Duration, stop <-chan struct{}) ([]bus.Message, string, error) {
	if h.held.Add(1) > h.maxHeld() {
		h.held.Add(-1)
		return nil, "", errOverCapacity
	}
	defer h.held.Add(-1)
	// The subscription starts after cursor, so a message published since
	// the Read above is delivered, not missed.
	sub, err := h.Broker.Subscribe(ctx, req.Topic, cursor)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", errGone
		}
		return nil, "", err
	}
	defer sub.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m, ok := <-sub.C():
		if !ok {
			return h.ended(ctx, req, cursor, sub.Err())
		}
		// Take what else is already there, up to the limit.
		msgs := []bus.Message{m}
	drain:
		for len(msgs) < req.Limit {
			select {
			case m, ok := <-sub.C():
				if !ok {
					break drain
				}
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		return msgs, lastID(msgs), nil
	case <-timer.C:
	case <-stop:
	case <-ctx.Done():
		return nil, "", errGone
	}
	return nil, cursor, nil
}

// ended handles a subscription that ended before its first message.
func (h *Handler) ended(ctx context.Context, req pollwire.Request, cursor string, err error) ([]bus.Message, string, error) {
	switch {
	case ctx.Err() != nil:
		return nil, "", errGone
	case errors.Is(err, bus.ErrSlowConsumer):
		// Cannot happen to a waiter that reads at once, but the answer is
		// simple: whatever the history holds now.
		msgs, err := h.Broker.Read(ctx, req.Topic, cursor, req.Limit)
		return msgs, lastIDOr(msgs, cursor), err
	case err == nil:
		err = bus.ErrClosed
	}
	return nil, "", err
}

func lastID(msgs []bus.Message) string { return msgs[len(msgs)-1].ID }

func lastIDOr(msgs []bus.Message, cursor string) string {
	if len(msgs) == 0 {
		return cursor
	}
	return lastID(msgs)
}
