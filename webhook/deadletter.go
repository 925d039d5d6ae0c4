package webhook

import (
	"context"
	"errors"
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

// DeadLetters returns the dead letters of this Dispatcher kept in memory
// (the newest MaxDeadLetters), oldest first; DeadLetterStore holds those
// of every instance.
func (d *Dispatcher) DeadLetters() []DeadLetter {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dead)
}

// Redeliver sends a dead letter again to its endpoint, now, with the same
// webhook-id, through the endpoint's rate limit and the Sender's full
// schedule, recording each attempt, and removes it from the dead letters
// (and from DeadLetterStore) once delivered; one that fails again is
// dead-lettered anew. It finds the dead letter in memory or, when set, in
// DeadLetterStore, and works on an endpoint of Add or of the Registry, on
// any instance. It blocks until the delivery ends or ctx is done.
// Redelivered messages arrive out of order by nature; Recover redelivers a
// whole range in order.
func (d *Dispatcher) Redeliver(ctx context.Context, endpointID, deliveryID string) error {
	d.init()
	d.mu.Lock()
	i := slices.IndexFunc(d.dead, func(dl DeadLetter) bool {
		return dl.Endpoint == endpointID && dl.Delivery == deliveryID
	})
	var dl DeadLetter
	if i >= 0 {
		dl = d.dead[i]
	}
	d.mu.Unlock()
	if i < 0 {
		found, err := d.findDeadLetter(ctx, endpointID, deliveryID)
		if err != nil {
			return err
		}
		dl = found
	}
	e, err := d.target(ctx, endpointID)
	if errors.Is(err, ErrEndpointNotFound) {
		err = ErrUnknownEndpoint
	}
	if err != nil {
		return err
	}
	if err := d.deliver(ctx, e, dl.Message, dl.Delivery, false); err != nil {
		return fmt.Errorf("webhook: redeliver %s: %w", deliveryID, err)
	}
	return d.forget(ctx, endpointID, deliveryID)
}

// findDeadLetter looks a dead letter up in DeadLetterStore, page by page,
// oldest first. It returns ErrUnknownDelivery when there is none.
func (d *Dispatcher) findDeadLetter(ctx context.Context, endpointID, deliveryID string) (DeadLetter, error) {
	if d.dlStore == nil {
		return DeadLetter{}, ErrUnknownDelivery
	}
	var since time.Time
	seen := make(map[string]bool)
	for {
		page, err := d.dlStore.ListDeadLetters(ctx, DeadLetterQuery{Endpoint: endpointID, Since: since, Limit: MaxQueryLimit})
		if err != nil {
			return DeadLetter{}, err
		}
		fresh := false
		for _, dl := range page {
			if dl.Delivery == deliveryID {
				return dl, nil
			}
			if !seen[dl.Delivery] {
				seen[dl.Delivery], fresh = true, true
			}
			since = dl.At // the next page starts at the last time seen
		}
		if len(page) < MaxQueryLimit || !fresh {
			return DeadLetter{}, ErrUnknownDelivery
		}
	}
}
