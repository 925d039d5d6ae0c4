package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// AttemptList is the answer of GET /endpoints/{id}/attempts.
type AttemptList struct {
	Attempts []webhook.Attempt `json:"attempts"`
}

// DeadLetterList is the answer of GET /endpoints/{id}/deadletters.
type DeadLetterList struct {
	DeadLetters []webhook.DeadLetter `json:"dead_letters"`
}

// The states of a DeliverySummary.
const (
	StateDelivered = "delivered" // the last attempt succeeded
	StateFailing   = "failing"   // the last attempt failed; more may come
	StateDead      = "dead"      // dead-lettered: retry it
)

// A DeliverySummary is one delivery to an endpoint as the attempt log and
// the dead letters tell it: the portal's row.
type DeliverySummary struct {
	ID       string          `json:"id"`                // the webhook-id
	Message  string          `json:"message,omitempty"` // the bus message ID
	Type     string          `json:"type,omitempty"`    // the event type
	State    string          `json:"state"`             // StateDelivered, StateFailing or StateDead
	Attempts int             `json:"attempts"`          // how many attempts the log holds
	First    time.Time       `json:"first"`             // when the first of them started
	Last     webhook.Attempt `json:"last"`              // the latest attempt
}

// DeliveryList is the answer of GET /endpoints/{id}/deliveries.
type DeliveryList struct {
	Deliveries []DeliverySummary `json:"deliveries"`
}

// Status is the answer of GET /endpoints/{id}/status.
type Status struct {
	Endpoint Endpoint `json:"endpoint"`
	// Running reports whether the Dispatcher delivers the endpoint in
	// this process now (with Leases, another instance may deliver it).
	Running bool `json:"running"`
	// Cursor is the position of the last message handled.
	Cursor string `json:"cursor,omitempty"`
	// Error is why delivery is failing, absent when it is not; Since
	// is when the failures began.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// DeadLetters counts the endpoint's dead letters (at most MaxLimit).
	DeadLetters int `json:"dead_letters"`
}

func (h *Handler) attempts(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := parseQuery(r, "since", "until", "failed", "limit")
	if err != nil {
		return err
	}
	if _, err := h.Store.GetEndpoint(r.Context(), p.endpoint); err != nil {
		return err
	}
	as, err := h.Store.ListAttempts(r.Context(), webhook.AttemptQuery{
		Endpoint: p.endpoint, Since: q.since, Until: q.until, FailedOnly: q.failed, Limit: q.limit,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AttemptList{Attempts: nonNil(as)})
	return nil
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := parseQuery(r, "since", "until", "limit")
	if err != nil {
		return err
	}
	if _, err := h.Store.GetEndpoint(r.Context(), p.endpoint); err != nil {
		return err
	}
	dls, err := h.Store.ListDeadLetters(r.Context(), webhook.DeadLetterQuery{
		Endpoint: p.endpoint, Since: q.since, Until: q.until, Limit: q.limit,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeadLetterList{DeadLetters: nonNil(dls)})
	return nil
}

// DefaultDeliveriesWindow is how far back GET deliveries looks without since.
const DefaultDeliveriesWindow = 24 * time.Hour

// maxPages bounds the attempt pages GET deliveries reads.
const maxPages = 10

// deliveries answers the endpoint's latest deliveries, newest first, from
// the attempts since `since` (default DefaultDeliveriesWindow ago).
func (h *Handler) deliveries(w http.ResponseWriter, r *http.Request, p params) error {
	q, err := parseQuery(r, "since", "limit")
	if err != nil {
		return err
	}
	if q.since.IsZero() {
		q.since = h.now().Add(-DefaultDeliveriesWindow)
	}
	if q.limit == 0 {
		q.limit = webhook.DefaultQueryLimit
	}
	ctx := r.Context()
	if _, err := h.Store.GetEndpoint(ctx, p.endpoint); err != nil {
		return err
	}
	as, err := h.recentAttempts(ctx, p.endpoint, q.since)
	if err != nil {
		return err
	}
	dls, err := h.Store.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: p.endpoint, Limit: webhook.MaxQueryLimit})
	if err != nil {
		return err
	}
	dead := make(map[string]bool, len(dls))
	for _, dl := range dls {
		dead[dl.Delivery] = true
	}
	byID := make(map[string]int)
	all := make([]DeliverySummary, 0, len(as))
	last := make([]int, 0, len(as)) // per delivery, the index in as of its latest attempt
	for j, a := range as {
		i, ok := byID[a.Delivery]
		if !ok {
			i = len(all)
			byID[a.Delivery] = i
			all = append(all, DeliverySummary{ID: a.Delivery, First: a.At})
			last = append(last, 0)
		}
		s := &all[i]
		s.Attempts++
		s.Last, last[i] = a, j
		if a.Message != "" {
			s.Message = a.Message
		}
		if a.Type != "" {
			s.Type = a.Type
		}
	}
	// Newest first, by the latest attempt: as is oldest first.
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return last[b] - last[a] })
	out := make([]DeliverySummary, 0, min(len(order), q.limit))
	for _, i := range order[:min(len(order), q.limit)] {
		s := all[i]
		switch {
		case s.Last.OK():
			s.State = StateDelivered
		case dead[s.ID]:
			s.State = StateDead
		default:
			s.State = StateFailing
		}
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, DeliveryList{Deliveries: nonNil(out)})
	return nil
}

// recentAttempts reads the endpoint's attempts since since, page by page
// (at most maxPages of MaxQueryLimit), oldest first.
func (h *Handler) recentAttempts(ctx context.Context, endpoint string, since time.Time) ([]webhook.Attempt, error) {
	type key struct { // a redelivery numbers its attempts from 1 again
		delivery string
		n        int
		at       time.Time
	}
	var out []webhook.Attempt
	var seen map[key]bool // of the attempts at the last page's last instant
	for range maxPages {
		page, err := h.Store.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: endpoint, Since: since, Limit: webhook.MaxQueryLimit})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if !seen[key{a.Delivery, a.N, a.At}] {
				out = append(out, a)
			}
		}
		if len(page) < webhook.MaxQueryLimit {
			break
		}
		// The next page starts at the last page's last instant: the
		// attempts at that instant come again, and are dropped.
		since = page[len(page)-1].At
		seen = make(map[key]bool)
		for i := len(page) - 1; i >= 0 && page[i].At.Equal(since); i-- {
			seen[key{page[i].Delivery, page[i].N, page[i].At}] = true
		}
	}
	return out, nil
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, p params) error {
	c, err := h.Store.GetEndpoint(r.Context(), p.endpoint)
	if err != nil {
		return err
	}
	dls, err := h.Store.ListDeadLetters(r.Context(), webhook.DeadLetterQuery{Endpoint: p.endpoint, Limit: MaxLimit})
	if err != nil {
		return err
	}
	st := Status{Endpoint: view(c), DeadLetters: len(dls)}
	if h.Dispatcher != nil {
		if s, err := h.Dispatcher.Status(p.endpoint); err == nil {
			st.Running, st.Cursor, st.Since = s.Running, s.Cursor, s.Since
			if s.Err != nil {
				st.Error = s.Err.Error()
			}
		}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// dispatcher returns the Dispatcher, or the 503 of a Handler without one.
func (h *Handler) dispatcher() (*webhook.Dispatcher, error) {
	if h.Dispatcher == nil {
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "no Dispatcher: delivery operations are not available here")
	}
	return h.Dispatcher, nil
}

// Recovered is the answer of POST /endpoints/{id}/recover.
type Recovered struct {
	Recovered int `json:"recovered"`
}

// Replayed is the answer of POST /endpoints/{id}/replay.
type Replayed struct {
	Replayed int `json:"replayed"`
}

// recovery is the body of POST /endpoints/{id}/recover.
type recovery struct {
	Since time.Time `json:"since"`
}

// replay is the body of POST /endpoints/{id}/replay.
type replay struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (h *Handler) recover(w http.ResponseWriter, r *http.Request, p params) error {
	var body recovery
	if err := h.decode(w, r, &body, false); err != nil {
		return err
	}
	if body.Since.IsZero() {
		return errorf(http.StatusBadRequest, codeInvalid, "since is required: an RFC 3339 time")
	}
	op := Operation{Endpoint: p.endpoint, Kind: KindRecover, Since: body.Since}
	return h.operate(w, r, op, func(ctx context.Context, d *webhook.Dispatcher) (int, error) {
		return d.Recover(ctx, p.endpoint, body.Since)
	}, nil, func(n int) any { return Recovered{Recovered: n} })
}

func (h *Handler) replay(w http.ResponseWriter, r *http.Request, p params) error {
	var body replay
	if err := h.decode(w, r, &body, false); err != nil {
		return err
	}
	for _, c := range []string{body.From, body.To} {
		if c != "" && c != bus.Oldest {
			if _, err := bus.ParseID(c); err != nil {
				return errorf(http.StatusBadRequest, codeInvalid, "%v", err)
			}
		}
	}
	op := Operation{Endpoint: p.endpoint, Kind: KindReplay, From: body.From, To: body.To}
	return h.operate(w, r, op, func(ctx context.Context, d *webhook.Dispatcher) (int, error) {
		return d.Replay(ctx, p.endpoint, body.From, body.To)
	}, func(ctx context.Context, d *webhook.Dispatcher, topic string) error {
		if d.Broker == nil || body.From == "" || body.From == bus.Oldest {
			return nil
		}
		if _, err := d.Broker.Read(ctx, topic, body.From, 1); errors.Is(err, bus.ErrCursorExpired) {
			return err // 410 at once: from left the history
		}
		return nil // anything else shows in the operation
	}, func(n int) any { return Replayed{Replayed: n} })
}

// Retried is the answer of POST /endpoints/{id}/deadletters/{delivery}/retry.
type Retried struct {
	Delivered bool `json:"delivered"`
}

// retry redelivers one dead letter now, within the request (at most
// RetryTimeout): 200 once delivered, 502 when it failed again (it stays a
// dead letter).
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	d, err := h.dispatcher()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.retryTimeout())
	defer cancel()
	err = d.Redeliver(ctx, p.endpoint, p.delivery)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, Retried{Delivered: true})
		return nil
	case errors.Is(err, webhook.ErrUnknownDelivery), errors.Is(err, webhook.ErrDeadLetterNotFound),
		errors.Is(err, webhook.ErrUnknownEndpoint), errors.Is(err, webhook.ErrEndpointNotFound):
		return err
	case r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusBadGateway, Code: codeDeliveryFailed, err: err,
			Message: fmt.Sprintf("not delivered within %v: it stays a dead letter", h.retryTimeout())}
	}
	return &Error{Status: http.StatusBadGateway, Code: codeDeliveryFailed, Message: err.Error(), err: err}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
