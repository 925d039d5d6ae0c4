package metricstest

import (
	"time"

	"github.com/pushpull/pushpull/metrics"
)

// ScriptClasses is the TopicClass Script expects the adapter under test to
// use.
var ScriptClasses = metrics.Prefixes("orders.")

// A Want is what an adapter must show for one series after the events of
// Script: for a counter or gauge its Value; for a histogram the Count of
// observations and their sum as Value.
type Want struct {
	Name   string            // the Instrument's Name, without prefix
	Labels map[string]string // every label of the series
	Value  float64
	Count  uint64 // histograms only
}

// Script returns a scripted scenario of the transports and the webhook
// Dispatcher (two SSE streams and a WebSocket with deliveries, a refusal,
// a reset and a slow cut; a failing webhook endpoint retried, then dead-
// lettered, its breaker opening) as the events they report, and the values
// an adapter using ScriptClasses must show for them. Raw topic names of
// the script start with "orders." or "secret-": neither may appear in any
// label.
func Script() ([]metrics.Event, []Want) {
	ms := time.Millisecond
	ev := []metrics.Event{
		{Kind: metrics.ConnOpened, Transport: "sse", Topic: "orders.1"},
		{Kind: metrics.ConnOpened, Transport: "sse", Topic: "secret-a"},
		{Kind: metrics.ConnOpened, Transport: "ws"},
		{Kind: metrics.Delivered, Transport: "sse", Topic: "orders.1", N: 1, Bytes: 100},
		{Kind: metrics.Delivered, Transport: "sse", Topic: "orders.2", N: 2, Bytes: 150},
		{Kind: metrics.Delivered, Transport: "sse", Topic: "secret-a", N: 1, Bytes: 10},
		{Kind: metrics.Delivered, Transport: "ws", Topic: "orders.1", N: 4, Bytes: 400},
		{Kind: metrics.Refused, Transport: "sse", Topic: "secret-b", Status: 403, Outcome: "forbidden"},
		{Kind: metrics.Reset, Transport: "sse", Topic: "orders.9"},
		{Kind: metrics.ConnClosed, Transport: "sse", Outcome: metrics.ReasonExpired, Duration: 2 * time.Second},
		{Kind: metrics.ConnClosed, Transport: "ws", Outcome: metrics.ReasonSlow, Duration: 30 * time.Second},
		{Kind: metrics.QueueDepth, Transport: "longpoll", N: 3},
		{Kind: metrics.QueueDepth, Transport: "longpoll", N: -1},

		{Kind: metrics.WebhookAttempt, Transport: "webhook", Topic: "orders.1", Status: 500, Outcome: metrics.OutcomeRetry, Duration: 20 * ms},
		{Kind: metrics.WebhookRetry, Transport: "webhook", Topic: "orders.1", Duration: time.Second},
		{Kind: metrics.WebhookAttempt, Transport: "webhook", Topic: "orders.1", Outcome: metrics.OutcomeRetry, Duration: 30 * ms},
		{Kind: metrics.WebhookRetry, Transport: "webhook", Topic: "orders.1", Duration: 2 * time.Second},
		{Kind: metrics.WebhookBreaker, Transport: "webhook", Outcome: "open", N: 1},
		{Kind: metrics.WebhookAttempt, Transport: "webhook", Topic: "orders.1", Status: 503, Outcome: metrics.OutcomeFailed, Duration: 50 * ms},
		{Kind: metrics.WebhookDeadLetter, Transport: "webhook", Topic: "orders.1"},
		{Kind: metrics.WebhookAttempt, Transport: "webhook", Topic: "secret-c", Status: 204, Outcome: metrics.OutcomeOK, Duration: 100 * ms},
		{Kind: metrics.Lag, Transport: "webhook", Topic: "orders.1", N: 7},
		{Kind: metrics.CursorStoreError, Transport: "webhook", Op: "save"},

		{Kind: metrics.BrokerRoundTrip, Transport: "redis", Op: "xadd", Outcome: metrics.OutcomeOK, Duration: 250 * time.Microsecond},
		{Kind: metrics.BrokerRoundTrip, Transport: "redis", Op: "xadd", Outcome: metrics.OutcomeError, Duration: 750 * time.Microsecond},
		{Kind: metrics.BrokerError, Transport: "redis", Op: "feed"},
	}
	lbl := func(kv ...string) map[string]string {
		m := make(map[string]string, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	want := []Want{
		{Name: "connections_opened_total", Labels: lbl("transport", "sse"), Value: 2},
		{Name: "connections_opened_total", Labels: lbl("transport", "ws"), Value: 1},
		{Name: "connections_active", Labels: lbl("transport", "sse"), Value: 1},
		{Name: "connections_active", Labels: lbl("transport", "ws"), Value: 0},
		{Name: "connections_closed_total", Labels: lbl("transport", "sse", "reason", "expired"), Value: 1},
		{Name: "connections_closed_total", Labels: lbl("transport", "ws", "reason", "slow"), Value: 1},
		{Name: "connection_duration_seconds", Labels: lbl("transport", "sse"), Value: 2, Count: 1},
		{Name: "connection_duration_seconds", Labels: lbl("transport", "ws"), Value: 30, Count: 1},
		{Name: "deliveries_total", Labels: lbl("transport", "sse", "topic_class", "orders."), Value: 3},
		{Name: "deliveries_total", Labels: lbl("transport", "sse", "topic_class", "other"), Value: 1},
		{Name: "deliveries_total", Labels: lbl("transport", "ws", "topic_class", "orders."), Value: 4},
		{Name: "delivered_bytes_total", Labels: lbl("transport", "sse", "topic_class", "orders."), Value: 250},
		{Name: "delivered_bytes_total", Labels: lbl("transport", "sse", "topic_class", "other"), Value: 10},
		{Name: "delivered_bytes_total", Labels: lbl("transport", "ws", "topic_class", "orders."), Value: 400},
		{Name: "refusals_total", Labels: lbl("transport", "sse", "topic_class", "other", "reason", "forbidden"), Value: 1},
		{Name: "resets_total", Labels: lbl("transport", "sse", "topic_class", "orders."), Value: 1},
		{Name: "queue_depth", Labels: lbl("transport", "longpoll"), Value: 2},
		{Name: "webhook_attempts_total", Labels: lbl("topic_class", "orders.", "outcome", "retry", "status_class", "5xx"), Value: 1},
		{Name: "webhook_attempts_total", Labels: lbl("topic_class", "orders.", "outcome", "retry", "status_class", "none"), Value: 1},
		{Name: "webhook_attempts_total", Labels: lbl("topic_class", "orders.", "outcome", "failed", "status_class", "5xx"), Value: 1},
		{Name: "webhook_attempts_total", Labels: lbl("topic_class", "other", "outcome", "ok", "status_class", "2xx"), Value: 1},
		{Name: "webhook_attempt_seconds", Labels: lbl("status_class", "5xx"), Value: 0.07, Count: 2},
		{Name: "webhook_attempt_seconds", Labels: lbl("status_class", "none"), Value: 0.03, Count: 1},
		{Name: "webhook_attempt_seconds", Labels: lbl("status_class", "2xx"), Value: 0.1, Count: 1},
		{Name: "webhook_retries_total", Labels: lbl("topic_class", "orders."), Value: 2},
		{Name: "webhook_dead_letters_total", Labels: lbl("topic_class", "orders."), Value: 1},
		{Name: "webhook_breaker_transitions_total", Labels: lbl("state", "open"), Value: 1},
		{Name: "webhook_breakers_open", Labels: lbl(), Value: 1},
		{Name: "lag_messages", Labels: lbl("transport", "webhook"), Value: 7, Count: 1},
		{Name: "cursor_store_errors_total", Labels: lbl("transport", "webhook", "op", "save"), Value: 1},
		{Name: "broker_round_trips_total", Labels: lbl("broker", "redis", "op", "xadd", "outcome", "ok"), Value: 1},
		{Name: "broker_round_trips_total", Labels: lbl("broker", "redis", "op", "xadd", "outcome", "error"), Value: 1},
		{Name: "broker_round_trip_seconds", Labels: lbl("broker", "redis", "op", "xadd"), Value: 0.001, Count: 2},
		{Name: "broker_errors_total", Labels: lbl("broker", "redis", "op", "feed"), Value: 1},
	}
	return ev, want
}
