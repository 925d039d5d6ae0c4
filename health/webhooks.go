package health

import (
	"context"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/webhook"
)

// DefaultStallAfter is how long an endpoint of a Webhooks check with a
// zero StallAfter may keep failing before it counts as stalled.
const DefaultStallAfter = time.Minute

// Webhooks checks a webhook Dispatcher. It is not ready while the
// Dispatcher does not run an enabled endpoint (Run has not started, or
// stopped), or while more than MaxStalled endpoints are stalled: failing
// (see webhook.EndpointStatus.Err: the cursor store, the bus, or the
// endpoint itself) for longer than StallAfter, so their cursor does not
// advance. Failing endpoints that are not stalled yet, endpoints disabled
// by 410 Gone and dead letters are reported in the detail
// (WebhooksDetail) without failing the check: a receiver's short outage
// is not this process's.
//
// Use it as Check{Name: "webhooks", Run: w.Run}.
type Webhooks struct {
	// Dispatcher is the Dispatcher checked. It must be set.
	Dispatcher *webhook.Dispatcher
	// StallAfter is how long an endpoint may fail before it counts as
	// stalled. Zero means DefaultStallAfter.
	StallAfter time.Duration
	// MaxStalled is how many stalled endpoints are tolerated. Zero means
	// none.
	MaxStalled int
}

// WebhooksDetail is the detail of a Webhooks check.
type WebhooksDetail struct {
	Endpoints   int               `json:"endpoints"`          // registered
	Running     int               `json:"running"`            // whose delivery goroutine runs
	Disabled    []string          `json:"disabled,omitempty"` // IDs disabled by 410 Gone
	Failing     []FailingEndpoint `json:"failing,omitempty"`
	Stalled     int               `json:"stalled"`      // of Failing
	DeadLetters int               `json:"dead_letters"` // kept by the Dispatcher
}

// A FailingEndpoint is an endpoint whose delivery fails.
type FailingEndpoint struct {
	ID      string    `json:"id"`
	Topic   string    `json:"topic"`
	Cursor  string    `json:"cursor"` // the position last stored
	Error   string    `json:"error"`
	Since   time.Time `json:"since"`
	Stalled bool      `json:"stalled"` // failing for longer than StallAfter
}

// Run runs the check (see Check.Run).
func (w *Webhooks) Run(context.Context) (any, error) {
	stallAfter := w.StallAfter
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	now := time.Now()
	sts := w.Dispatcher.Statuses()
	d := WebhooksDetail{Endpoints: len(sts), DeadLetters: len(w.Dispatcher.DeadLetters())}
	notRunning := 0
	for _, st := range sts {
		switch {
		case st.Running:
			d.Running++
		case st.Disabled:
			d.Disabled = append(d.Disabled, st.ID)
		default:
			notRunning++
		}
		if st.Err != nil {
			f := FailingEndpoint{ID: st.ID, Topic: st.Topic, Cursor: st.Cursor, Error: st.Err.Error(), Since: st.Since,
				Stalled: now.Sub(st.Since) >= stallAfter}
			if f.Stalled {
				d.Stalled++
			}
			d.Failing = append(d.Failing, f)
		}
	}
	switch {
	case notRunning > 0:
		return d, fmt.Errorf("%d endpoints not running", notRunning)
	case d.Stalled > w.MaxStalled:
		return d, fmt.Errorf("%d endpoints stalled", d.Stalled)
	}
	return d, nil
}
