package webhook

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// A DeadLetter is a message whose delivery to an endpoint failed on every
// attempt of the schedule, or with an error that no retry can fix (then
// after one attempt).
type DeadLetter struct {
	Endpoint string      // the endpoint's ID
	Delivery string      // the webhook-id
	Message  bus.Message // the message, to redeliver it
	Attempts []Attempt   // every attempt
	Error    string      // why the delivery failed, from the last attempt
	At       time.Time   // when it was dead-lettered
}

// deadLetter keeps dl (the newest MaxDeadLetters, and in DeadLetterStore),
// logs it and calls OnDeadLetter.
func (d *Dispatcher) deadLetter(ctx context.Context, dl DeadLetter) {
	max := d.MaxDeadLetters
	if max <= 0 {
		max = DefaultMaxDeadLetters
	}
	d.mu.Lock()
	// A message dead-lettered again (after a failed recovery) replaces
	// its earlier dead letter.
	d.dead = slices.DeleteFunc(d.dead, func(x DeadLetter) bool {
		return x.Endpoint == dl.Endpoint && x.Delivery == dl.Delivery
	})
	d.dead = append(d.dead, dl)
	if len(d.dead) > max {
		d.dead = slices.Delete(d.dead, 0, len(d.dead)-max)
	}
	d.mu.Unlock()
	if d.dlStore != nil {
		sctx, cancel := storeContext(ctx)
		err := d.dlStore.AddDeadLetter(sctx, dl)
		cancel()
		if err != nil {
			d.storeFailed(ctx, dl.Endpoint, "add dead letter", err)
		}
	}
	if d.Logger != nil {
		d.Logger.WarnContext(ctx, "webhook dispatcher: dead letter", "endpoint", dl.Endpoint,
			"delivery", dl.Delivery, "message", dl.Message.ID, "attempts", len(dl.Attempts), "error", dl.Error)
	}
	if d.OnDeadLetter != nil {
		d.OnDeadLetter(dl)
	}
}

// DeadLetters returns the dead letters, oldest first.
func (d *Dispatcher) DeadLetters() []DeadLetter {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dead)
}

// Redeliver sends a dead letter again to its endpoint, now, with the same
// webhook-id and the Sender's full schedule, and removes it from the dead
// letters once delivered. It blocks until the delivery ends or ctx is
// done. Redelivered messages arrive out of order by nature.
func (d *Dispatcher) Redeliver(ctx context.Context, endpointID, deliveryID string) error {
	d.init()
	d.mu.Lock()
	i := slices.IndexFunc(d.dead, func(dl DeadLetter) bool {
		return dl.Endpoint == endpointID && dl.Delivery == deliveryID
	})
	e, ok := d.endpoints[endpointID]
	var dl DeadLetter
	if i >= 0 {
		dl = d.dead[i]
	}
	d.mu.Unlock()
	switch {
	case i < 0:
		return ErrUnknownDelivery
	case !ok:
		return ErrUnknownEndpoint
	}
	body, err := NewPayload(dl.Message).MarshalJSON()
	if err != nil {
		return err
	}
	ep := e.ep
	if _, err := d.sender.Send(ctx, &ep, Delivery{ID: dl.Delivery, Body: body}); err != nil {
		return fmt.Errorf("webhook: redeliver %s: %w", deliveryID, err)
	}
	d.mu.Lock()
	d.dead = slices.DeleteFunc(d.dead, func(x DeadLetter) bool {
		return x.Endpoint == endpointID && x.Delivery == deliveryID
	})
	d.mu.Unlock()
	return nil
}
