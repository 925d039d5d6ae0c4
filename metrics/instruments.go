package metrics

// An InstrumentType is the type of an Instrument.
type InstrumentType uint8

// Instrument types.
const (
	// Counter only goes up (a Prometheus counter, an OpenTelemetry
	// Int64Counter).
	Counter InstrumentType = iota + 1
	// Gauge goes up and down by the amounts reported (a Prometheus
	// gauge, an OpenTelemetry Int64UpDownCounter).
	Gauge
	// Histogram records a distribution (a Prometheus histogram, an
	// OpenTelemetry Float64Histogram), with the Instrument's Buckets.
	Histogram
)

// A Label is a label (an attribute, in OpenTelemetry) of an Instrument,
// taken from an Event's fields by Event.Label.
type Label uint8

// Labels.
const (
	LabelTransport   Label = iota + 1 // "transport": Event.Transport
	LabelBroker                       // "broker": Event.Transport
	LabelTopicClass                   // "topic_class": the TopicClass of Event.Topic
	LabelReason                       // "reason": Event.Outcome
	LabelOutcome                      // "outcome": Event.Outcome
	LabelPath                         // "path": Event.Outcome
	LabelState                        // "state": Event.Outcome
	LabelOp                           // "op": Event.Op
	LabelStatusClass                  // "status_class": StatusClass(Event.Status)
)

var labelNames = [...]string{
	LabelTransport:   "transport",
	LabelBroker:      "broker",
	LabelTopicClass:  "topic_class",
	LabelReason:      "reason",
	LabelOutcome:     "outcome",
	LabelPath:        "path",
	LabelState:       "state",
	LabelOp:          "op",
	LabelStatusClass: "status_class",
}

// String returns the label's name, e.g. "topic_class".
func (l Label) String() string {
	if int(l) < len(labelNames) {
		return labelNames[l]
	}
	return ""
}

// Label returns the value of label l for e, mapping the topic with c.
func (e *Event) Label(l Label, c TopicClass) string {
	switch l {
	case LabelTransport, LabelBroker:
		return e.Transport
	case LabelTopicClass:
		return c.Of(e.Topic)
	case LabelReason, LabelOutcome, LabelPath, LabelState:
		return e.Outcome
	case LabelOp:
		return e.Op
	case LabelStatusClass:
		return StatusClass(e.Status)
	}
	return ""
}

// A Value says which amount of an Event an Update adds or observes.
type Value uint8

// Values.
const (
	ValueOne      Value = iota + 1 // 1
	ValueMinusOne                  // -1
	ValueN                         // Event.N
	ValueBytes                     // Event.Bytes
	ValueSeconds                   // Event.Duration in seconds
)

// Value returns the amount v of e.
func (e *Event) Value(v Value) float64 {
	switch v {
	case ValueOne:
		return 1
	case ValueMinusOne:
		return -1
	case ValueN:
		return float64(e.N)
	case ValueBytes:
		return float64(e.Bytes)
	case ValueSeconds:
		return e.Duration.Seconds()
	}
	return 0
}

// An Update says that events of Kind update an Instrument by Value.
type Update struct {
	Kind  Kind
	Value Value
}

// MaxLabels is the most labels an Instrument has.
const MaxLabels = 4

// An Instrument is a metric the adapters make: its name, meaning, type,
// labels, and the Kinds that update it. Instruments lists them all; it is
// the one definition the Prometheus and OpenTelemetry adapters follow, and
// what a third-party adapter should follow too.
type Instrument struct {
	// Name is the Prometheus name without the "pushpull_" prefix, e.g.
	// "connections_opened_total".
	Name string
	// Help says what the metric means.
	Help string
	// Type is Counter, Gauge or Histogram.
	Type InstrumentType
	// Unit is the unit in UCUM notation as OpenTelemetry uses it: "s",
	// "By", "{message}".
	Unit string
	// Labels are the instrument's labels, at most MaxLabels.
	Labels []Label
	// Buckets are the upper bounds of a Histogram's buckets.
	Buckets []float64
	// Updates are the Kinds that update the instrument, and by how much.
	Updates []Update
}

// Bucket layouts of the histograms.
var (
	latencyBuckets  = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	lifetimeBuckets = []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	lagBuckets      = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384}
)

func l(ls ...Label) []Label { return ls }

func u(k Kind, v Value) []Update { return []Update{{k, v}} }

var instruments = []Instrument{
	// Transports.
	{Name: "connections_opened_total", Help: "Connections accepted by handlers (or made by clients).", Type: Counter, Unit: "{connection}",
		Labels: l(LabelTransport), Updates: u(ConnOpened, ValueOne)},
	{Name: "connections_closed_total", Help: "Connections ended, by reason.", Type: Counter, Unit: "{connection}",
		Labels: l(LabelTransport, LabelReason), Updates: u(ConnClosed, ValueOne)},
	{Name: "connections_active", Help: "Connections open now.", Type: Gauge, Unit: "{connection}",
		Labels: l(LabelTransport), Updates: []Update{{ConnOpened, ValueOne}, {ConnClosed, ValueMinusOne}}},
	{Name: "connection_duration_seconds", Help: "Lifetime of ended connections.", Type: Histogram, Unit: "s",
		Labels: l(LabelTransport), Buckets: lifetimeBuckets, Updates: u(ConnClosed, ValueSeconds)},
	{Name: "deliveries_total", Help: "Messages written to clients (or received by clients).", Type: Counter, Unit: "{message}",
		Labels: l(LabelTransport, LabelTopicClass), Updates: u(Delivered, ValueN)},
	{Name: "delivered_bytes_total", Help: "Bytes of the messages written to clients (or received by clients).", Type: Counter, Unit: "By",
		Labels: l(LabelTransport, LabelTopicClass), Updates: u(Delivered, ValueBytes)},
	{Name: "refusals_total", Help: "Requests refused before anything was sent, by reason.", Type: Counter, Unit: "{request}",
		Labels: l(LabelTransport, LabelTopicClass, LabelReason), Updates: u(Refused, ValueOne)},
	{Name: "resets_total", Help: "Consumers told that their cursor expired.", Type: Counter, Unit: "{reset}",
		Labels: l(LabelTransport, LabelTopicClass), Updates: u(Reset, ValueOne)},
	{Name: "lag_messages", Help: "How far consumers were behind the top when observed.", Type: Histogram, Unit: "{message}",
		Labels: l(LabelTransport), Buckets: lagBuckets, Updates: u(Lag, ValueN)},
	{Name: "queue_depth", Help: "Items waiting in queues now (held requests, messages waiting for an endpoint).", Type: Gauge, Unit: "{item}",
		Labels: l(LabelTransport), Updates: u(QueueDepth, ValueN)},
	{Name: "cursor_store_errors_total", Help: "Failed calls to a cursor store.", Type: Counter, Unit: "{error}",
		Labels: l(LabelTransport, LabelOp), Updates: u(CursorStoreError, ValueOne)},

	// Brokers.
	{Name: "bus_publishes_total", Help: "Publish calls, by outcome.", Type: Counter, Unit: "{message}",
		Labels: l(LabelBroker, LabelTopicClass, LabelOutcome), Updates: u(BusPublished, ValueOne)},
	{Name: "bus_publish_seconds", Help: "Latency of Publish, storing and local fan-out included.", Type: Histogram, Unit: "s",
		Labels: l(LabelBroker), Buckets: latencyBuckets, Updates: u(BusPublished, ValueSeconds)},
	{Name: "bus_subscribers", Help: "Subscriptions of this process open now.", Type: Gauge, Unit: "{subscription}",
		Labels: l(LabelBroker, LabelTopicClass), Updates: []Update{{BusSubscribed, ValueOne}, {BusUnsubscribed, ValueMinusOne}}},
	{Name: "bus_subscriptions_ended_total", Help: "Subscriptions ended, by reason (slow: cut as slow consumers; expired: position left the history).", Type: Counter, Unit: "{subscription}",
		Labels: l(LabelBroker, LabelTopicClass, LabelReason), Updates: u(BusUnsubscribed, ValueOne)},
	{Name: "bus_deliveries_total", Help: "Messages handed to subscribers of this process, by path (live or history).", Type: Counter, Unit: "{message}",
		Labels: l(LabelBroker, LabelTopicClass, LabelPath), Updates: u(BusDelivered, ValueN)},
	{Name: "bus_catchups_total", Help: "Subscribers switched to reading the history, by reason.", Type: Counter, Unit: "{catchup}",
		Labels: l(LabelBroker, LabelTopicClass, LabelReason), Updates: u(BusCatchUp, ValueOne)},
	{Name: "bus_lag_messages", Help: "How far subscribers were behind the top when they switched to the history.", Type: Histogram, Unit: "{message}",
		Labels: l(LabelBroker), Buckets: lagBuckets, Updates: u(BusCatchUp, ValueN)},
	{Name: "bus_cursor_expired_total", Help: "Cursors refused as expired, by where (subscribe, read, stream).", Type: Counter, Unit: "{cursor}",
		Labels: l(LabelBroker, LabelTopicClass, LabelOp), Updates: u(BusCursorExpired, ValueOne)},
	{Name: "broker_round_trips_total", Help: "Calls of a broker adapter to its server, by command and outcome.", Type: Counter, Unit: "{call}",
		Labels: l(LabelBroker, LabelOp, LabelOutcome), Updates: u(BrokerRoundTrip, ValueOne)},
	{Name: "broker_round_trip_seconds", Help: "Latency of the calls of a broker adapter to its server.", Type: Histogram, Unit: "s",
		Labels: l(LabelBroker, LabelOp), Buckets: latencyBuckets, Updates: u(BrokerRoundTrip, ValueSeconds)},
	{Name: "broker_errors_total", Help: "Failures of a broker adapter's connection or feed outside round trips.", Type: Counter, Unit: "{error}",
		Labels: l(LabelBroker, LabelOp), Updates: u(BrokerError, ValueOne)},

	// Webhooks.
	{Name: "webhook_attempts_total", Help: "Webhook delivery attempts, by outcome and HTTP status class.", Type: Counter, Unit: "{attempt}",
		Labels: l(LabelTopicClass, LabelOutcome, LabelStatusClass), Updates: u(WebhookAttempt, ValueOne)},
	{Name: "webhook_attempt_seconds", Help: "Latency of webhook delivery attempts.", Type: Histogram, Unit: "s",
		Labels: l(LabelStatusClass), Buckets: latencyBuckets, Updates: u(WebhookAttempt, ValueSeconds)},
	{Name: "webhook_retries_total", Help: "Webhook retries scheduled.", Type: Counter, Unit: "{retry}",
		Labels: l(LabelTopicClass), Updates: u(WebhookRetry, ValueOne)},
	{Name: "webhook_dead_letters_total", Help: "Webhook messages given up on and dead-lettered.", Type: Counter, Unit: "{message}",
		Labels: l(LabelTopicClass), Updates: u(WebhookDeadLetter, ValueOne)},
	{Name: "webhook_breaker_transitions_total", Help: "Endpoint circuit breaker changes, by new state.", Type: Counter, Unit: "{transition}",
		Labels: l(LabelState), Updates: u(WebhookBreaker, ValueOne)},
	{Name: "webhook_breakers_open", Help: "Endpoints whose circuit breaker is not closed now.", Type: Gauge, Unit: "{endpoint}",
		Updates: u(WebhookBreaker, ValueN)},
	{Name: "webhook_endpoints_disabled_total", Help: "Endpoints the dispatcher disabled, by reason (gone: a 410; failing: no success for DisableAfter).", Type: Counter, Unit: "{endpoint}",
		Labels: l(LabelReason), Updates: u(WebhookDisabled, ValueOne)},
}

// Instruments returns every metric the adapters make, in a fresh slice the
// caller may keep. Names are unique; each Kind updates at least one.
func Instruments() []Instrument {
	out := make([]Instrument, len(instruments))
	for i, in := range instruments {
		in.Labels = append([]Label(nil), in.Labels...)
		in.Buckets = append([]float64(nil), in.Buckets...)
		in.Updates = append([]Update(nil), in.Updates...)
		out[i] = in
	}
	return out
}
