// Package metricstest provides a Recorder for tests that keeps every event
// it is given, so a test can assert exactly what a component reported.
//
// It also holds what the transports' scripted metrics tests share: a
// Handler's Authorize that refuses one topic ([DenySecret]), live
// subscriptions through a transport's Client that have received every
// message published ([Live]), waits bounded by the test's context
// ([Context], [Await], [CutSlow]), and the checks of the connection,
// delivery, refusal and reset events both sides report ([CheckConns],
// [CheckDelivered], [CheckClientDelivered], [CheckRefused],
// [CheckReset]). Script is the scenario the metrics adapters are tested
// with.
package metricstest

import (
	"sync"

	"github.com/pushpull/pushpull/metrics"
)

// Recorder keeps the events it records. The zero value is ready to use; it
// is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []metrics.Event
}

var _ metrics.Recorder = (*Recorder)(nil)

// Record implements metrics.Recorder.
func (r *Recorder) Record(e metrics.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []metrics.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]metrics.Event(nil), r.events...)
}

// Reset forgets the events recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// Count returns how many events of Kind k were recorded whose fields match
// every non-zero string field of match (Transport, Topic, Op, Outcome).
func (r *Recorder) Count(k metrics.Kind, match metrics.Event) int {
	n := 0
	r.each(k, match, func(metrics.Event) { n++ })
	return n
}

// Sum returns the sum of N over the events Count counts.
func (r *Recorder) Sum(k metrics.Kind, match metrics.Event) int64 {
	var n int64
	r.each(k, match, func(e metrics.Event) { n += e.N })
	return n
}

func (r *Recorder) each(k metrics.Kind, match metrics.Event, fn func(metrics.Event)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k && matches(e.Transport, match.Transport) && matches(e.Topic, match.Topic) &&
			matches(e.Op, match.Op) && matches(e.Outcome, match.Outcome) {
			fn(e)
		}
	}
}

func matches(got, want string) bool { return want == "" || got == want }
