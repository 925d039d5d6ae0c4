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
// webhook-id, through the endpoint's rate limit and the Sender's full
// schedule, recording each attempt, and removes it from the dead letters
// once delivered; one that fails again is dead-lettered anew. It reads
// DeadLetterStore when set, else the dead letters in memory, and works on
// an endpoint of Add or of the Registry, on any instance. It blocks until
// the delivery ends or ctx is done. Redelivered messages arrive out of
// order by nature.
func (d *Dispatcher) Redeliver(ctx context.Context, endpointID, deliveryID string) error {
	d.init()
	dl, err := d.deadLetterOf(ctx, endpointID, deliveryID)
	if err != nil {
		return err
	}
	e, err := d.target(ctx, endpointID)
	if err != nil {
		return err
	}
	if err := d.deliver(ctx, e, dl.Message, dl.Delivery, false); err != nil {
		return fmt.Errorf("webhook: redeliver %s: %w", deliveryID, err)
	}
	return d.forget(ctx, endpointID, deliveryID)
}

// deadLetterOf finds one dead letter, or returns ErrUnknownDelivery.
func (d *Dispatcher) deadLetterOf(ctx context.Context, endpointID, deliveryID string) (DeadLetter, error) {
	var since time.Time
	for d.dlStore != nil {
		page, err := d.dlStore.ListDeadLetters(ctx, DeadLetterQuery{Endpoint: endpointID, Since: since, Limit: MaxQueryLimit})
		if err != nil {
			return DeadLetter{}, err
		}
		if i := slices.IndexFunc(page, func(dl DeadLetter) bool { return dl.Delivery == deliveryID }); i >= 0 {
			return page[i], nil
		}
		if len(page) < MaxQueryLimit || !page[len(page)-1].At.After(since) {
			return DeadLetter{}, ErrUnknownDelivery
		}
		since = page[len(page)-1].At
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.dead, func(dl DeadLetter) bool {
		return dl.Endpoint == endpointID && dl.Delivery == deliveryID
	})
	if i < 0 {
		return DeadLetter{}, ErrUnknownDelivery
	}
	return d.dead[i], nil
}
