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
// with its name, type, unit, labels and the Kinds that update it.
//
// # Label cardinality
//
// Metrics are labelled with small fixed sets of values only: the
// transport or broker, a reason or outcome, an HTTP status class, and a
// topic class. Topic names come from clients and are unbounded, so
// adapters never use them as labels as they are: a [TopicClass] maps each
// topic to a class, and the default (nil) puts every topic in the class
// "all". [Prefixes] classifies topics by a fixed list of prefixes.
package metrics
