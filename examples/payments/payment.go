package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// Topic is the bus topic the provider publishes payment events on.
const Topic = "payments"

// The event types, one per payment status.
const (
	TypeSucceeded = "payment.succeeded"
	TypeFailed    = "payment.failed"
)

// DemoSecret is the signing secret both programs use unless given another
// with -secret. It is public, so it protects nothing: give every real
// deployment its own (webhook.GenerateSecret).
const DemoSecret = "whsec_/dQVLARQmZLwNZC5fLT8HzZzTB+s6zbgzD9/pvSZoac="

// A Payment is what the provider stores and what its events carry.
type Payment struct {
	ID       string    `json:"id"`     // "pay_<n>", set by the store
	Amount   int64     `json:"amount"` // in cents
	Currency string    `json:"currency"`
	Customer string    `json:"customer"`
	Status   string    `json:"status"`           // "succeeded" or "failed"
	Reason   string    `json:"reason,omitempty"` // why it failed
	Created  time.Time `json:"created"`          // set by the store
}

// event is the bus message announcing p.
func (p Payment) event() (bus.Message, error) {
	data, err := json.Marshal(p)
	return bus.Message{Type: "payment." + p.Status, Data: data}, err
}

// An Outcome is what the provider's card processor does with a payment.
type Outcome string

// The outcomes the provider's page offers.
const (
	Succeed Outcome = "succeed" // stored as succeeded: payment.succeeded
	Decline Outcome = "decline" // stored as failed: payment.failed
	Crash   Outcome = "crash"   // the provider fails before commit: nothing stored, nothing published
)

// ErrCrashed is the error of a payment whose transaction was rolled back
// because the provider failed after writing it (the Crash outcome).
var ErrCrashed = errors.New("payments: the provider failed before commit; the payment was rolled back")

// A Store keeps payments and publishes their events.
type Store interface {
	// Create stores p, giving it an ID and a creation time, and
	// publishes its event on Topic: both or neither. With Crash it
	// fails with ErrCrashed after writing, and neither remains.
	Create(ctx context.Context, p Payment, o Outcome) (Payment, error)
	// List returns the latest payments, newest first.
	List(ctx context.Context, limit int) ([]Payment, error)
}

// MemoryStore keeps payments in memory and publishes their events on Bus.
// There is no transaction: Create publishes, then stores, under one lock,
// and a Crash fails before either. It is safe for concurrent use.
type MemoryStore struct {
	// Bus receives the events. It must be set.
	Bus bus.Publisher

	mu       sync.Mutex
	payments []Payment
}

var _ Store = (*MemoryStore)(nil)

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, p Payment, o Outcome) (Payment, error) {
	if o == Crash {
		return Payment{}, ErrCrashed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ID = "pay_" + strconv.Itoa(len(s.payments)+1)
	p.Created = time.Now().UTC()
	m, err := p.event()
	if err != nil {
		return Payment{}, err
	}
	if _, err := s.Bus.Publish(ctx, Topic, m); err != nil {
		return Payment{}, err
	}
	s.payments = append(s.payments, p)
	return p, nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, limit int) ([]Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, min(limit, len(s.payments)))
	for i := len(s.payments) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.payments[i])
	}
	return out, nil
}

// currencies are the currencies the provider takes.
var currencies = map[string]bool{"EUR": true, "USD": true, "GBP": true}

// NewPayment checks a payment request: customer is 1 to 60 characters,
// amount a positive decimal with at most two decimals, up to 1,000,000,
// and currency EUR, USD or GBP. The outcome decides the status.
func NewPayment(customer, amount, currency string, o Outcome) (Payment, error) {
	customer = strings.TrimSpace(customer)
	if n := len([]rune(customer)); n == 0 || n > 60 {
		return Payment{}, errors.New("customer: 1 to 60 characters")
	}
	cents, err := parseCents(amount)
	if err != nil {
		return Payment{}, err
	}
	if !currencies[currency] {
		return Payment{}, fmt.Errorf("currency %q: EUR, USD or GBP", currency)
	}
	p := Payment{Amount: cents, Currency: currency, Customer: customer, Status: "succeeded"}
	switch o {
	case Succeed, Crash:
	case Decline:
		p.Status, p.Reason = "failed", "card_declined"
	default:
		return Payment{}, fmt.Errorf("outcome %q: succeed, decline or crash", o)
	}
	return p, nil
}

// parseCents reads "12", "12.5" or "12.50" as cents.
func parseCents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	bad := fmt.Errorf("amount %q: a positive number with at most two decimals, up to 1000000", s)
	if whole == "" || len(whole) > 7 || len(frac) > 2 {
		return 0, bad
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n <= 0 || n > 100_000_000 || strings.ContainsAny(whole+frac, "+-") {
		return 0, bad
	}
	return n, nil
}
