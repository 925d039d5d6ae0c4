package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// deliver sends one message to an endpoint through the circuit breaker and
// the concurrency slots, keeping its log, and dead-letters it when the
// schedule is exhausted or an error no retry can fix ended it.
func (d *Dispatcher) deliver(ctx context.Context, e *endpoint, m bus.Message) error {
	body, err := NewPayload(m).MarshalJSON()
	if err != nil {
		return err
	}
	dl := &DeliveryLog{ID: MessageID(m), Endpoint: e.ep.ID, MessageID: m.ID, Type: m.Type, State: Pending}
	d.mu.Lock()
	e.log = append(e.log, dl)
	if max := d.maxLog(); len(e.log) > max {
		e.log = slices.Delete(e.log, 0, len(e.log)-max)
	}
	d.mu.Unlock()
	attempts, err := d.sender.send(ctx, &e.ep, Delivery{ID: dl.ID, Body: body}, &endpointGate{d: d, e: e, log: dl})
	dead := errors.Is(err, ErrExhausted) || isFatal(err)
	d.mu.Lock()
	switch {
	case err == nil:
		dl.State = Delivered
	case errors.Is(err, ErrGone):
		dl.State = Gone
	case dead:
		dl.State = Dead
	}
	d.mu.Unlock()
	if dead {
		d.deadLetter(ctx, DeadLetter{Endpoint: e.ep.ID, Delivery: dl.ID, Message: m, Attempts: attempts, Error: err.Error(), At: d.sender.now()})
	}
	return err
}

func (d *Dispatcher) maxLog() int {
	if d.MaxLog > 0 {
		return d.MaxLog
	}
	return DefaultMaxLog
}

func (d *Dispatcher) deadLetter(ctx context.Context, dl DeadLetter) {
	max := d.MaxDeadLetters
	if max <= 0 {
		max = DefaultMaxDeadLetters
	}
	d.mu.Lock()
	d.dead = append(d.dead, dl)
	if len(d.dead) > max {
		d.dead = slices.Delete(d.dead, 0, len(d.dead)-max)
	}
	d.mu.Unlock()
	if d.Logger != nil {
		d.Logger.WarnContext(ctx, "webhook dispatcher: dead letter", "endpoint", dl.Endpoint,
			"delivery", dl.Delivery, "message", dl.Message.ID, "attempts", len(dl.Attempts), "error", dl.Error)
	}
	if d.OnDeadLetter != nil {
		d.OnDeadLetter(dl)
	}
}

// endpointGate admits the attempts of one endpoint: it waits while the
// circuit is open, takes a concurrency slot, and records each attempt.
type endpointGate struct {
	d   *Dispatcher
	e   *endpoint
	log *DeliveryLog
}

func (g *endpointGate) wait(ctx context.Context) error {
	g.d.mu.Lock()
	until := g.e.openUntil
	g.d.mu.Unlock()
	if wait := until.Sub(g.d.sender.now()); wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	select {
	case g.d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *endpointGate) done(a *Attempt) {
	<-g.d.sem
	d := g.d
	d.mu.Lock()
	if a.OK() {
		g.e.failures = 0
	} else if g.e.failures++; g.e.failures >= d.breakerThreshold() {
		g.e.openUntil = d.sender.now().Add(d.breakerCooldown())
	}
	g.log.Attempts = append(g.log.Attempts, *a)
	g.e.attempted(a, d.sender.now())
	d.mu.Unlock()
	if d.OnAttempt != nil {
		d.OnAttempt(*a)
	}
}

func (d *Dispatcher) breakerThreshold() int {
	if d.BreakerThreshold > 0 {
		return d.BreakerThreshold
	}
	return DefaultBreakerThreshold
}

func (d *Dispatcher) breakerCooldown() time.Duration {
	return durationOr(d.BreakerCooldown, DefaultBreakerCooldown)
}

// Deliveries returns the recent deliveries to an endpoint with their
// attempts, oldest first (at most MaxLog).
func (d *Dispatcher) Deliveries(endpointID string) ([]DeliveryLog, error) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.endpoints[endpointID]
	if !ok {
		return nil, ErrUnknownEndpoint
	}
	out := make([]DeliveryLog, len(e.log))
	for i, l := range e.log {
		out[i] = *l
		out[i].Attempts = slices.Clone(l.Attempts)
	}
	return out, nil
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
	if _, err := d.sender.send(ctx, &ep, Delivery{ID: dl.Delivery, Body: body}, nil); err != nil {
		return fmt.Errorf("webhook: redeliver %s: %w", deliveryID, err)
	}
	d.mu.Lock()
	d.dead = slices.DeleteFunc(d.dead, func(x DeadLetter) bool {
		return x.Endpoint == endpointID && x.Delivery == deliveryID
	})
	d.mu.Unlock()
	return nil
}
