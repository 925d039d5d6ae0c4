// Package otel records pushpull's metrics with OpenTelemetry: a Recorder
// that the handlers, clients and brokers report to (as their Metrics
// field), over any metric.Meter.
//
// It lives in a module of its own, so that only the programs that use it
// depend on OpenTelemetry.
//
// # Instruments
//
// The instruments are those of metrics.Instruments, the same as the
// Prometheus adapter's, named "pushpull.<name>" where name is the
// Prometheus name without "_total" (see Name): counters are
// Int64ObservableCounters, gauges Int64ObservableUpDownCounters (the
// Recorder keeps their totals), histograms Float64Histograms with the
// documented bucket boundaries, each with its unit ("s", "By",
// "{message}", ...). Their attributes are the Prometheus labels: transport,
// broker, topic_class (the Recorder's TopicClass of the topic: "all"
// unless one is set), reason, outcome, path, state, op, status_class.
// Exported to Prometheus, they get the Prometheus adapter's names.
package otel
