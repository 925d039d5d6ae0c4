package bustest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// Recovery measures how a backend recovers from outages, for failover
// tests built on CheckDisruption: use it as the Disruption's Publisher and
// Subscriber, and call Failed when Disrupt has broken the backend. For each
// outage it records the time until the first publication that succeeds
// afterwards (through Pub) and until the consumer gets a subscription back
// or is told of a reset (through Broker). Report logs what it measured.
type Recovery struct {
	// Pub publishes; Broker is followed by the consumer.
	Pub bus.Publisher
	bus.Broker

	mu       sync.Mutex
	failedAt time.Time
	pubDown  bool
	subDown  bool
	failures int
	pubTimes []time.Duration
	subTimes []time.Duration
}

// Publish publishes through Pub, timing the first success after an outage
// and counting the failures.
func (r *Recovery) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	got, err := r.Pub.Publish(ctx, topic, m)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
	} else if r.pubDown {
		r.pubDown = false
		r.pubTimes = append(r.pubTimes, time.Since(r.failedAt))
	}
	return got, err
}

// Subscribe subscribes through Broker, timing the first subscription (or
// reset) after an outage.
func (r *Recovery) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	s, err := r.Broker.Subscribe(ctx, topic, after)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subDown && (err == nil || errors.Is(err, bus.ErrCursorExpired)) {
		r.subDown = false
		r.subTimes = append(r.subTimes, time.Since(r.failedAt))
	}
	return s, err
}

// Failed marks the start of an outage.
func (r *Recovery) Failed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failedAt, r.pubDown, r.subDown = time.Now(), true, true
}

// Times returns, per outage, how long publishing and the consumer took to
// recover, and how many publications failed in all.
func (r *Recovery) Times() (pub, sub []time.Duration, failures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.pubTimes...), append([]time.Duration(nil), r.subTimes...), r.failures
}

// Report logs the recovery times on t, under the heading what.
func (r *Recovery) Report(t testing.TB, what string) {
	pub, sub, failures := r.Times()
	t.Logf("%s: publishing recovered after %v, the consumer after %v; %d failed publications returned errors",
		what, pub, sub, failures)
}
