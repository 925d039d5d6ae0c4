package webhook

import (
	"context"
	"errors"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// transport is the webhook components' name in the events they report.
const transport = "webhook"

// The states of an endpoint's circuit breaker, as reported in
// WebhookBreaker events.
const (
	breakerClosed   = "closed"
	breakerOpen     = "open"
	breakerHalfOpen = "half-open"
)

// Reasons of the Receiver's Refused events.
const (
	refusedSignature = "signature" // no signature matched, or no usable key
	refusedReplay    = "replay"    // a timestamp out of tolerance, or an event already handled
	refusedInvalid   = "invalid"   // any other bad request
)

// report hands e to Metrics unless it is the zero Event.
func (d *Dispatcher) report(e metrics.Event) {
	if d.Metrics != nil && e.Kind != 0 {
		d.Metrics.Record(e)
	}
}

// breakerTo moves the endpoint's circuit to state and returns the event
// that reports the transition, the zero Event when there is none. n is
// +1 when it leaves the closed state, -1 when it returns to it. d.mu is
// held.
func (d *Dispatcher) breakerTo(e *endpoint, state string) metrics.Event {
	from := e.breaker
	if from == "" {
		from = breakerClosed
	}
	if from == state {
		return metrics.Event{}
	}
	var n int64
	switch {
	case from == breakerClosed:
		n = 1
	case state == breakerClosed:
		n = -1
	}
	e.breaker = state
	if state == breakerClosed {
		e.breaker = ""
	}
	return metrics.Event{Kind: metrics.WebhookBreaker, Transport: transport, Topic: e.ep.Topic, Outcome: state, N: n}
}

// closeBreaker closes the endpoint's circuit (Enable, Remove); d.mu is held.
func (d *Dispatcher) closeBreaker(e *endpoint) metrics.Event {
	return d.breakerTo(e, breakerClosed)
}

// attemptOutcome is the outcome of attempt a that returned err, as
// WebhookAttempt reports it.
func attemptOutcome(a *Attempt, err error) string {
	switch {
	case a.OK():
		return metrics.OutcomeOK
	case errors.Is(err, ErrGone):
		return metrics.OutcomeGone
	case err == nil:
		return metrics.OutcomeRetry
	case errors.Is(err, ErrExhausted), isFatal(err):
		return metrics.OutcomeFailed
	}
	return metrics.ReasonCanceled // the Dispatcher stopped mid-attempt
}

// reportAttempt reports attempt a to topic, which returned err, and the
// retry it scheduled, to r.
func reportAttempt(r metrics.Recorder, topic string, a *Attempt, err error) {
	outcome := attemptOutcome(a, err)
	r.Record(metrics.Event{Kind: metrics.WebhookAttempt, Transport: transport, Topic: topic,
		Outcome: outcome, Status: a.Status, Duration: a.Latency})
	if outcome == metrics.OutcomeRetry {
		r.Record(metrics.Event{Kind: metrics.WebhookRetry, Transport: transport, Topic: topic, Duration: a.Next})
	}
}

// storeError reports a failed call op ("load", "save") of the CursorStore,
// unless the Dispatcher is stopping.
func (d *Dispatcher) storeError(ctx context.Context, op string) {
	if d.Metrics != nil && ctx.Err() == nil {
		d.Metrics.Record(metrics.Event{Kind: metrics.CursorStoreError, Transport: transport, Op: op})
	}
}

// lag reports how far the endpoint is behind its topic's top after the
// message id, when the top is known and of the same epoch.
func (d *Dispatcher) lag(ctx context.Context, e *endpoint, id string) {
	top, err := d.Broker.Top(ctx, e.ep.Topic)
	if err != nil {
		return
	}
	tp, err1 := bus.ParseID(top)
	at, err2 := bus.ParseID(id)
	if err1 != nil || err2 != nil || tp.Epoch != at.Epoch || tp.Offset < at.Offset {
		return
	}
	d.Metrics.Record(metrics.Event{Kind: metrics.Lag, Transport: transport, Topic: e.ep.Topic, N: int64(tp.Offset - at.Offset)})
}

// refused reports a request the Receiver refused with status for reason.
func (r *Receiver) refused(status int, reason string) {
	if r.Metrics != nil {
		r.Metrics.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Status: status, Outcome: reason})
	}
}

// refusal is the reason of a Refused event for err.
func refusal(err error) string {
	switch {
	case errors.Is(err, ErrNoMatchingSignature), errors.Is(err, ErrNoKeys):
		return refusedSignature
	case errors.Is(err, ErrTooOld), errors.Is(err, ErrTooNew):
		return refusedReplay
	}
	return refusedInvalid
}
