package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// An EndpointStatus is where delivery to one endpoint stands, as
// [Dispatcher.Status] reports it. An endpoint is failing while Err is not
// nil.
type EndpointStatus struct {
	ID    string // the endpoint's ID
	Topic string // the endpoint's Topic
	// Running reports whether the endpoint's goroutine runs: Run is
	// running and the endpoint is not disabled.
	Running bool
	// Disabled reports whether a 410 Gone answer disabled the endpoint,
	// until Enable, or, for an endpoint of the Registry, whether it is
	// disabled there.
	Disabled bool
	// Leased reports, with Leases, whether this instance holds the
	// endpoint's lease and so delivers to it. Without Leases it is false.
	Leased bool
	// Version is the Registry's Version of the configuration in use; 0
	// for an endpoint of Add.
	Version int64
	// Cursor is the position last stored in the CursorStore, where a
	// restarted Dispatcher resumes: the ID of the last message handled
	// (delivered, filtered out or dead-lettered), or the starting
	// position. It is "" until a cursor was loaded or stored.
	Cursor string
	// Err is why the endpoint is failing, nil when it is not: the latest
	// error of a failure that goes on, of the CursorStore (loading or
	// saving the cursor), of the bus (reading the top, subscribing) or of
	// the last delivery attempt. A failure ends when the same step next
	// succeeds.
	Err error
	// Since is when the failures going on began; zero when Err is nil.
	Since time.Time
}

// A step is a kind of work of an endpoint's goroutine that can fail.
type step int

const (
	stepStore    step = iota // the CursorStore: Load, Save
	stepBus                  // the bus: Top, Subscribe
	stepSend                 // delivery attempts
	stepLease                // the Leases: acquire, renew
	stepRegistry             // the Registry: Revision, ListEndpoints
	nSteps
)

// A streak is a run of failures of one step.
type streak struct {
	err   error     // the latest
	at    time.Time // of the latest
	since time.Time // of the first
}

// Status returns where delivery to an endpoint stands: whether it runs,
// its stored cursor, and whether and since when it is failing. It returns
// ErrUnknownEndpoint for an ID that is not registered.
func (d *Dispatcher) Status(id string) (EndpointStatus, error) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.endpoints[id]
	if !ok {
		return EndpointStatus{}, ErrUnknownEndpoint
	}
	return e.status(), nil
}

// Statuses returns the status of every registered endpoint, ordered by ID
// (see Status).
func (d *Dispatcher) Statuses() []EndpointStatus {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]EndpointStatus, 0, len(d.endpoints))
	for _, e := range d.endpoints {
		out = append(out, e.status())
	}
	slices.SortFunc(out, func(a, b EndpointStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// status is the endpoint's status; d.mu is held.
func (e *endpoint) status() EndpointStatus {
	st := EndpointStatus{ID: e.ep.ID, Topic: e.ep.Topic, Running: e.cancel != nil, Disabled: e.disabled, Cursor: e.cursor,
		Leased: e.cancel != nil && time.Now().Before(e.leaseUntil)}
	if e.config != nil {
		st.Version = e.config.Version
	}
	var at time.Time
	for _, f := range e.failing {
		if f.err == nil {
			continue
		}
		if st.Err == nil || f.at.After(at) {
			st.Err, at = f.err, f.at
		}
		if st.Since.IsZero() || f.since.Before(st.Since) {
			st.Since = f.since
		}
	}
	return st
}

// failed records an error of the bus or the CursorStore, logs it and
// reports it to OnError.
func (d *Dispatcher) failed(ctx context.Context, e *endpoint, st step, what string, err error) {
	d.logError(ctx, what, e.ep.ID, err)
	err = fmt.Errorf("webhook: endpoint %q: %s: %w", e.ep.ID, what, err)
	d.record(e, st, err)
	if d.OnError != nil {
		d.OnError(e.ep.ID, err)
	}
}

// record notes an error of a step, starting a streak or extending it.
func (d *Dispatcher) record(e *endpoint, st step, err error) {
	now := d.sender.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	f := &e.failing[st]
	if f.err == nil {
		f.since = now
	}
	f.err, f.at = err, now
}

// succeeded ends a streak of failures of a step.
func (d *Dispatcher) succeeded(e *endpoint, st step) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.failing[st] = streak{}
}

// stored records that cursor is the endpoint's stored position.
func (d *Dispatcher) stored(e *endpoint, cursor string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.cursor = cursor
	e.failing[stepStore] = streak{}
}

// attempted records the outcome of a delivery attempt; d.mu is held.
func (e *endpoint) attempted(a *Attempt, now time.Time) {
	f := &e.failing[stepSend]
	if a.OK() {
		*f = streak{}
		return
	}
	err := a.err
	if err == nil {
		err = errors.New(a.Error)
	}
	if f.err == nil {
		f.since = now
	}
	f.err, f.at = err, now
}
