// Package metrics is how pushpull's handlers, clients and brokers report
// what they do, for an operator to watch: connections, deliveries, lag,
// slow-consumer cuts, resets, refusals, publish and broker latency, and
// webhook attempts. It needs only the standard library, so every package of
// the module may import it; the adapters that turn events into metrics
// live in their own modules: metrics/prometheus (client_golang) and
// metrics/otel (OpenTelemetry).
//
// # Reporting
//
// A component has a field
//
//	Metrics metrics.Recorder
//
// and reports each thing that happens as an [Event], a small value whose
// [Kind] says what happened:
//
//	if h.Metrics != nil {
//		h.Metrics.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: topic, N: 1, Bytes: int64(n)})
//	}
//
// A nil Recorder means no instrumentation: the check above is all it
// costs, with no allocation and no clock read. An Event is passed by value
// and holds no pointer the reporter allocated for it, so a Recorder that
// counts costs no allocation either. [Multi] combines recorders;
// [RecorderFunc] makes one of a function.
//
// Each Kind's documentation says who reports it, which fields are set, and
// which metrics the adapters make of it; [Instruments] lists every metric
// with its name, type, unit, labels and the Kinds that update it. A
// [Router] turns events into updates of those metrics' series: an adapter
// supplies only the function that makes a series' update function.
//
// # Who reports what
//
// Handlers (Transport "poll", "longpoll", "sse", "ws"):
//
//   - a request refused before anything is sent: Refused, with the HTTP
//     status and the reason ("forbidden", "unauthorized", "capacity",
//     "invalid", "shutdown" while the handler shuts down); server failures
//     (500) are not refusals; a WebSocket subscribe or publish that
//     Authorize refuses is reported too, with Status 403;
//   - a stream or connection accepted (SSE stream, WebSocket, held long
//     poll): ConnOpened; when it ends, once, ConnClosed with the reason
//     and its lifetime; a plain poll request opens no connection;
//   - each write of messages: Delivered with their count and bytes;
//   - a cursor answered with the expired signal (410, SSE reset, ws
//     error frame): Reset;
//   - requests waiting in a queue (held long polls): QueueDepth +1 and -1.
//
// Clients report ConnOpened and ConnClosed per connection (SSE stream,
// WebSocket; the poll and long-poll clients open none), Delivered per
// message received (Bytes its Data) and Reset per expired signal received,
// with Transport "<transport>-client". The webhook Dispatcher reports WebhookAttempt per
// POST, WebhookRetry per retry scheduled, WebhookDeadLetter, WebhookBreaker, WebhookDisabled
// per transition, Lag per endpoint and CursorStoreError; the webhook
// Receiver reports Refused ("signature", "replay"). Brokers report the Bus*
// Kinds, mostly through bus.Hub, and broker adapters BrokerRoundTrip per
// call to their server and BrokerError when their feed fails; [Broker] is
// the small reporter the adapters of this project use for these, ready for
// a third party's adapter too.
//
// # Label cardinality
//
// Metrics are labelled with small fixed sets of values only: the
// transport or broker, a reason or outcome, an HTTP status class, and a
// topic class. Topic names come from clients and are unbounded, so
// adapters never use them as labels as they are: a [TopicClass] maps each
// topic to a class, and the default (nil) puts every topic in the class
// "all". [Prefixes] classifies topics by a fixed list of prefixes.
//
// # Logs
//
// Handlers, clients and brokers log with log/slog to the Logger field
// they have; a nil Logger is silent. Messages start with the package
// name ("sse: …"), and the same things carry the same attribute names
// everywhere:
//
//   - "topic": the topic concerned;
//   - "cursor": a cursor a client sent or a component resumes from (the
//     after parameter, Last-Event-ID, a subscribe's after);
//   - "top": a topic's current top;
//   - "id": a message ID;
//   - "remote_addr": the client's address (http.Request.RemoteAddr);
//   - "url": the server a client talks to;
//   - "status": an HTTP status code;
//   - "error": the error.
//
// Topics and cursors are logged as they are, unlike metric labels: logs
// are where an operator looks for one client's story.
package metrics
