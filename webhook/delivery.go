package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// A DeliveryLog is the record of one message's delivery to an endpoint.
type DeliveryLog struct {
	ID        string // the webhook-id
	Endpoint  string // the endpoint's ID
	MessageID string // the bus message ID
	Type      string // the message type
	State     DeliveryState
	Attempts  []Attempt // in order
}

// A DeliveryState says where a delivery stands.
type DeliveryState string

// The states of a delivery.
const (
	Pending   DeliveryState = "pending"   // attempts are going on
	Delivered DeliveryState = "delivered" // an attempt succeeded
	Dead      DeliveryState = "dead"      // the schedule is exhausted, or no retry can help: a dead letter
	Gone      DeliveryState = "gone"      // the endpoint answered 410 and is disabled
	Stopped   DeliveryState = "stopped"   // the endpoint failed for DisableAfter and is disabled
)

// deliver delivers one message to an endpoint as delivery id, keeping its
// log, and dead-letters it when the schedule is exhausted or an error no
// retry can fix ended it. It returns the error that ended the delivery,
// nil when an attempt succeeded. live says the endpoint's own goroutine
// delivers, which with Leases must hold the lease before each attempt.
func (d *Dispatcher) deliver(ctx context.Context, e *endpoint, m bus.Message, id string, live bool) error {
	body, err := NewPayload(m).MarshalJSON()
	if err != nil {
		return err
	}
	dl := &DeliveryLog{ID: id, Endpoint: e.ep.ID, MessageID: m.ID, Type: m.Type, State: Pending}
	d.mu.Lock()
	e.log = append(e.log, dl)
	if max := d.maxLog(); len(e.log) > max {
		e.log = slices.Delete(e.log, 0, len(e.log)-max)
	}
	d.mu.Unlock()
	attempts, err := d.retry(ctx, e, Delivery{ID: dl.ID, Body: body}, dl, live)
	dead := errors.Is(err, ErrExhausted) || isFatal(err)
	d.mu.Lock()
	switch {
	case err == nil:
		dl.State = Delivered
	case errors.Is(err, ErrGone):
		dl.State = Gone
	case errors.Is(err, ErrFailing):
		dl.State = Stopped
	case dead:
		dl.State = Dead
	}
	d.mu.Unlock()
	if dead {
		if d.Metrics != nil {
			d.Metrics.Record(metrics.Event{Kind: metrics.WebhookDeadLetter, Transport: transport, Topic: e.ep.Topic})
		}
		d.deadLetter(ctx, DeadLetter{Endpoint: e.ep.ID, Delivery: dl.ID, Message: m, Attempts: attempts, Error: err.Error(), At: d.sender.now()})
	}
	return err
}

// retry is the retry loop of one delivery. It is Sender.Send's loop, run
// here because the Dispatcher owns what surrounds each attempt: before it,
// the endpoint's circuit breaker and a concurrency slot (admit); after it,
// the breaker's count, the delivery log, the endpoint's status and
// OnAttempt (release). The Sender makes each attempt and decides whether
// and when the next one comes.
func (d *Dispatcher) retry(ctx context.Context, e *endpoint, dv Delivery, dl *DeliveryLog, live bool) ([]Attempt, error) {
	s := d.sender
	b := s.backOff()
	var log []Attempt
	for n := 1; ; n++ {
		if live && d.stopping(e) {
			// Another delivery of the endpoint found it failing for
			// DisableAfter: start no attempt that could still succeed.
			return log, d.failingTooLong(e)
		}
		if err := d.admit(ctx, e, live); err != nil {
			return log, err
		}
		a, err := s.try(ctx, b, &e.ep, dv, n)
		d.release(ctx, e, dl, &a)
		if d.Metrics != nil {
			reportAttempt(d.Metrics, e.ep.Topic, &a, err)
		}
		s.log(ctx, &a)
		log = append(log, a)
		// Failing for DisableAfter stops the endpoint, also when this
		// attempt ended the delivery (no retry left, or none can help),
		// but not for a 410, which disables it anyway.
		if live && !a.OK() && !errors.Is(err, ErrGone) && ctx.Err() == nil {
			if ferr := d.failingTooLong(e); ferr != nil {
				return log, ferr
			}
		}
		if a.OK() || err != nil {
			return log, err
		}
		if err := sleep(ctx, a.Next); err != nil {
			return log, err
		}
	}
}

// admit waits while the endpoint's circuit is open and for a token of
// its rate limit, checks that a live delivery still holds the endpoint's
// lease, then takes one of the MaxConcurrent slots.
func (d *Dispatcher) admit(ctx context.Context, e *endpoint, live bool) error {
	d.mu.Lock()
	until, open := e.openUntil, e.breaker == breakerOpen
	d.mu.Unlock()
	if wait := until.Sub(d.sender.now()); wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	if open {
		// The cooldown is over: the next attempt tests the endpoint.
		d.mu.Lock()
		ev := d.breakerTo(e, breakerHalfOpen)
		d.mu.Unlock()
		d.report(ev)
	}
	if err := e.limiter.wait(ctx); err != nil {
		return err
	}
	if live && d.leases != nil {
		d.mu.Lock()
		held := time.Now().Before(e.leaseUntil)
		d.mu.Unlock()
		if !held {
			return errLeaseLost
		}
	}
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives the slot back and records attempt a: a success closes the
// circuit's count, BreakerThreshold failures in a row open it for
// BreakerCooldown. It adds a to the delivery's log, the endpoint's status
// and Attempts, and calls OnAttempt.
func (d *Dispatcher) release(ctx context.Context, e *endpoint, dl *DeliveryLog, a *Attempt) {
	<-d.sem
	a.Message, a.Type = dl.MessageID, dl.Type
	d.mu.Lock()
	var ev metrics.Event
	if a.OK() {
		e.failures = 0
		ev = d.closeBreaker(e)
	} else if e.failures++; e.failures >= d.breakerThreshold() {
		e.openUntil = d.sender.now().Add(d.breakerCooldown())
		ev = d.breakerTo(e, breakerOpen)
	}
	dl.Attempts = append(dl.Attempts, *a)
	e.attempted(a, d.sender.now())
	d.mu.Unlock()
	d.report(ev)
	if d.attempts != nil {
		sctx, cancel := storeContext(ctx)
		err := d.attempts.AddAttempt(sctx, *a)
		cancel()
		if err != nil {
			d.storeFailed(ctx, e.ep.ID, "add attempt", err)
		}
	}
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

// failingTooLong returns an error wrapping ErrFailing once the endpoint's
// attempts have failed without a success for DisableAfter (or it was
// found so already: e.stopping), nil before. Once it has, every delivery of
// the endpoint stops before its next attempt, so that the one the cursor
// waits for ends too.
func (d *Dispatcher) failingTooLong(e *endpoint) error {
	if d.DisableAfter < 0 {
		return nil
	}
	after := durationOr(d.DisableAfter, DefaultDisableAfter)
	d.mu.Lock()
	defer d.mu.Unlock()
	since := e.failing[stepSend].since
	if !e.stopping && (since.IsZero() || d.sender.now().Before(since.Add(after))) {
		return nil
	}
	e.stopping = true
	return fmt.Errorf("%w: endpoint %q: no delivery succeeded since %s", ErrFailing, e.ep.ID, since.Format(time.RFC3339))
}

// stopping reports whether a delivery of the endpoint found it failing
// for DisableAfter.
func (d *Dispatcher) stopping(e *endpoint) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return e.stopping
}

func (d *Dispatcher) breakerCooldown() time.Duration {
	return durationOr(d.BreakerCooldown, DefaultBreakerCooldown)
}

func (d *Dispatcher) maxLog() int {
	if d.MaxLog > 0 {
		return d.MaxLog
	}
	return DefaultMaxLog
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
