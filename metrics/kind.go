package metrics

import "strconv"

// A Kind says what an Event reports. Each Kind documents who reports it,
// which Event fields are set, and the metrics the adapters make of it (see
// Instruments for the full list, names without the "pushpull_" prefix).
// New Kinds may be added; a Recorder ignores the Kinds it does not know.
type Kind uint8

// The Kinds of the transports: the poll, longpoll, sse and ws handlers and
// clients, and the webhook Receiver. Transport is set on all of them.
const (
	_ Kind = iota

	// ConnOpened: a handler accepted a connection (an SSE stream, a
	// WebSocket, a held long-poll request) or a client connected. Topic
	// when there is one.
	// Metrics: connections_opened_total{transport},
	// connections_active{transport} +1.
	ConnOpened
	// ConnClosed: a connection counted by ConnOpened ended. Outcome is
	// the reason (ReasonDone, ReasonClosed, ReasonSlow, ReasonExpired,
	// ReasonShutdown, ReasonError), Duration its lifetime. Every
	// ConnOpened is matched by exactly one ConnClosed.
	// Metrics: connections_closed_total{transport,reason},
	// connections_active{transport} -1,
	// connection_duration_seconds{transport}.
	ConnClosed
	// Delivered: messages written to a client (handlers) or received
	// (clients). Topic, N the number of messages, Bytes their encoded
	// size on the wire. One event per write or response, not per
	// message, where several go at once.
	// Metrics: deliveries_total{transport,topic_class} +N,
	// delivered_bytes_total{transport,topic_class} +Bytes.
	Delivered
	// Refused: a request was refused before anything was sent. Topic
	// when known, Status the HTTP status, Outcome the reason:
	// "unauthorized", "forbidden" (Authorize said no), "capacity" (too
	// many held requests), "invalid" (bad topic or cursor), "shutdown"
	// (the handler is shutting down), "signature"
	// (a webhook that failed verification), "replay".
	// Metrics: refusals_total{transport,topic_class,reason}.
	Refused
	// Reset: a consumer was told its cursor expired (HTTP 410, an SSE
	// reset event, a WebSocket error frame), by a handler, or a client
	// received that signal. Topic.
	// Metrics: resets_total{transport,topic_class}.
	Reset
	// Lag: how far a consumer is behind the topic's top, where the
	// reporter knows it (the webhook Dispatcher for an endpoint). Topic,
	// N the messages behind.
	// Metrics: lag_messages{transport} (histogram).
	Lag
	// QueueDepth: the number of items waiting in a reporter's queue
	// changed (held long-poll requests, messages waiting for an
	// endpoint). N the change, positive or negative, so that several
	// reporters add up.
	// Metrics: queue_depth{transport} +N.
	QueueDepth
	// CursorStoreError: a cursor store (the webhook Dispatcher's
	// positions) failed. Op the call ("load", "save").
	// Metrics: cursor_store_errors_total{transport,op}.
	CursorStoreError
)

// The Kinds of the brokers: bus.Hub, bus.Memory and the broker adapters.
// Transport is set to the broker's name on all of them; adapters label the
// metrics with it as "broker".
const (
	// BusPublished: a Publish returned. Topic, Bytes the message's Data,
	// Duration the time Publish took (storing and local fan-out),
	// Outcome OutcomeOK or OutcomeError.
	// Metrics: bus_publishes_total{broker,topic_class,outcome},
	// bus_publish_seconds{broker} (histogram).
	BusPublished Kind = iota + 32
	// BusSubscribed: a subscription of this process started. Topic.
	// Metrics: bus_subscribers{broker,topic_class} +1.
	BusSubscribed
	// BusUnsubscribed: a subscription counted by BusSubscribed ended.
	// Topic, Outcome the reason: ReasonClosed (Close), ReasonCanceled
	// (its context), ReasonSlow (cut with ErrSlowConsumer),
	// ReasonExpired (its position left the history), ReasonShutdown
	// (the broker closed), ReasonError.
	// Metrics: bus_subscriptions_ended_total{broker,topic_class,reason},
	// bus_subscribers{broker,topic_class} -1.
	BusUnsubscribed
	// BusDelivered: the fan-out engine handed messages to subscribers of
	// this process. Topic, N the number of hand-overs (one message to
	// three subscribers is 3), Outcome the path: "live" (straight from
	// the publish) or "history" (a lagging subscriber catching up).
	// Reported once per publish and per catch-up batch, not per
	// subscriber.
	// Metrics: bus_deliveries_total{broker,topic_class,path} +N.
	BusDelivered
	// BusCatchUp: a subscriber switched from live delivery to reading
	// the history. Topic, N how many messages it is behind the top,
	// Outcome the reason: "join" (it subscribed behind the top),
	// "full" (its channel was full), "gap" (a message it had not reached,
	// or of a new epoch, was announced), "resync" (the broker found the
	// top beyond what was announced).
	// Metrics: bus_catchups_total{broker,topic_class,reason},
	// bus_lag_messages{broker} (histogram of N).
	BusCatchUp
	// BusCursorExpired: the broker answered ErrCursorExpired. Topic, Op
	// where: "subscribe", "read", or "stream" (a running subscription's
	// position left the history; it also ends with BusUnsubscribed,
	// ReasonExpired).
	// Metrics: bus_cursor_expired_total{broker,topic_class,op}.
	BusCursorExpired
	// BrokerRoundTrip: a broker adapter made a call to its server. Op
	// the command (e.g. "xadd", "xrange", "publish", "fetch"), Duration
	// its latency, Outcome OutcomeOK or OutcomeError.
	// Metrics: broker_round_trips_total{broker,op,outcome},
	// broker_round_trip_seconds{broker,op} (histogram).
	BrokerRoundTrip
	// BrokerError: a broker adapter's connection or feed failed outside
	// a round trip (a dropped subscription feed, a reconnect). Op what
	// failed.
	// Metrics: broker_errors_total{broker,op}.
	BrokerError
)

// The Kinds of the webhook Dispatcher. Transport is "webhook".
const (
	// WebhookAttempt: a delivery attempt to an endpoint ended. Topic,
	// Status the HTTP status (0 when no response came), Duration the
	// attempt's latency, Outcome OutcomeOK, OutcomeRetry, OutcomeFailed
	// or OutcomeGone.
	// Metrics: webhook_attempts_total{topic_class,outcome,status_class},
	// webhook_attempt_seconds{status_class} (histogram).
	WebhookAttempt Kind = iota + 64
	// WebhookRetry: a retry was scheduled. Topic, Duration the delay
	// before it.
	// Metrics: webhook_retries_total{topic_class}.
	WebhookRetry
	// WebhookDeadLetter: a message was given up on and dead-lettered.
	// Topic.
	// Metrics: webhook_dead_letters_total{topic_class}.
	WebhookDeadLetter
	// WebhookBreaker: an endpoint's circuit breaker changed state.
	// Outcome the new state ("open", "half-open", "closed"), N +1 when
	// it left the closed state, -1 when it returned to it, 0 otherwise.
	// Metrics: webhook_breaker_transitions_total{state},
	// webhook_breakers_open +N.
	WebhookBreaker
	// WebhookDisabled: the Dispatcher disabled an endpoint. Topic,
	// Outcome why: OutcomeGone (it answered 410 Gone) or ReasonFailing
	// (its deliveries failed without a success for DisableAfter).
	// Metrics: webhook_endpoints_disabled_total{reason}.
	WebhookDisabled
)

var kindNames = map[Kind]string{
	ConnOpened:        "ConnOpened",
	ConnClosed:        "ConnClosed",
	Delivered:         "Delivered",
	Refused:           "Refused",
	Reset:             "Reset",
	Lag:               "Lag",
	QueueDepth:        "QueueDepth",
	CursorStoreError:  "CursorStoreError",
	BusPublished:      "BusPublished",
	BusSubscribed:     "BusSubscribed",
	BusUnsubscribed:   "BusUnsubscribed",
	BusDelivered:      "BusDelivered",
	BusCatchUp:        "BusCatchUp",
	BusCursorExpired:  "BusCursorExpired",
	BrokerRoundTrip:   "BrokerRoundTrip",
	BrokerError:       "BrokerError",
	WebhookAttempt:    "WebhookAttempt",
	WebhookRetry:      "WebhookRetry",
	WebhookDeadLetter: "WebhookDeadLetter",
	WebhookBreaker:    "WebhookBreaker",
	WebhookDisabled:   "WebhookDisabled",
}

// String returns the Kind's name, e.g. "ConnOpened".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
