package otel

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pushpull/pushpull/metrics"
)

// ScopeName is the instrumentation scope of the Meter a Recorder uses when
// none is given.
const ScopeName = "github.com/pushpull/pushpull"

// DefaultPrefix is the prefix of every instrument name unless Prefix says
// otherwise.
const DefaultPrefix = "pushpull."

// Recorder is a metrics.Recorder that records OpenTelemetry metrics through
// a Meter. Give it to the components as their Metrics.
//
//	rec := &otel.Recorder{Meter: provider.Meter("shop")}
//	b := &bus.Memory{Metrics: rec}
//
// The zero value is ready to use: it records through the global
// MeterProvider. Set the fields before the first Record and do not change
// them afterwards. The instruments are created by the first Record; an
// error creating one goes to otel.Handle, and that instrument records
// nothing. Counters and gauges are observable instruments: the Recorder
// keeps their totals (an atomic add per event, much cheaper than the SDK's
// synchronous path) and reports them at each collection, through a
// callback that stays registered for the life of the Meter. A Recorder is
// safe for concurrent use; Record allocates only the first time it sees a
// new combination of attribute values.
type Recorder struct {
	// Meter creates the instruments. Nil means the global
	// MeterProvider's Meter for ScopeName.
	Meter metric.Meter
	// Prefix is the prefix of the instrument names. Empty means
	// DefaultPrefix.
	Prefix string
	// TopicClass maps topics to the values of the topic_class attribute.
	// Nil puts every topic in the class "all"; raw topic names are never
	// used unless TopicClass returns them.
	TopicClass metrics.TopicClass

	once   sync.Once
	router *metrics.Router

	mu   sync.Mutex // guards sums
	sums []*sum     // the series of the counters and gauges
}

// A sum is the running total of a series of an observable counter or
// gauge: Record adds to it, and the collection reads it.
type sum struct {
	inst  metric.Int64Observable
	attrs metric.ObserveOption
	total atomic.Int64
}

// observed returns the update function of a new series of the observable
// inst: it adds to the series' total.
func (r *Recorder) observed(inst metric.Int64Observable, set attribute.Set) func(float64) {
	s := &sum{inst: inst, attrs: metric.WithAttributeSet(set)}
	r.mu.Lock()
	r.sums = append(r.sums, s)
	r.mu.Unlock()
	return func(v float64) { s.total.Add(int64(v)) }
}

// observe is the callback of the observable instruments: it reports the
// total of every series.
func (r *Recorder) observe(_ context.Context, o metric.Observer) error {
	r.mu.Lock()
	sums := r.sums
	r.mu.Unlock()
	for _, s := range sums {
		o.ObserveInt64(s.inst, s.total.Load(), s.attrs)
	}
	return nil
}

var _ metrics.Recorder = (*Recorder)(nil)

// Name returns the OpenTelemetry name of in under prefix: the Prometheus
// name without its "_total" suffix ("pushpull.connections_opened"), so
// that an OpenTelemetry-to-Prometheus exporter, which adds "_total" to
// counters, ends with the names of the Prometheus adapter.
func Name(prefix string, in metrics.Instrument) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + strings.TrimSuffix(in.Name, "_total")
}

func (r *Recorder) init() {
	r.once.Do(func() {
		m := r.Meter
		if m == nil {
			m = otel.Meter(ScopeName)
		}
		ins := metrics.Instruments()
		binds := make([]func(attribute.Set) func(float64), len(ins))
		var observables []metric.Observable
		for i, in := range ins {
			name := Name(r.Prefix, in)
			ctx := context.Background()
			var err error
			switch in.Type {
			case metrics.Counter:
				var c metric.Int64ObservableCounter
				c, err = m.Int64ObservableCounter(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit))
				if err == nil {
					observables = append(observables, c)
					binds[i] = func(set attribute.Set) func(float64) { return r.observed(c, set) }
				}
			case metrics.Gauge:
				var g metric.Int64ObservableUpDownCounter
				g, err = m.Int64ObservableUpDownCounter(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit))
				if err == nil {
					observables = append(observables, g)
					binds[i] = func(set attribute.Set) func(float64) { return r.observed(g, set) }
				}
			case metrics.Histogram:
				var h metric.Float64Histogram
				h, err = m.Float64Histogram(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit),
					metric.WithExplicitBucketBoundaries(in.Buckets...))
				binds[i] = func(set attribute.Set) func(float64) {
					opts := []metric.RecordOption{metric.WithAttributeSet(set)}
					return func(v float64) { h.Record(ctx, v, opts...) }
				}
			}
			if err != nil {
				otel.Handle(err)
				binds[i] = func(attribute.Set) func(float64) { return func(float64) {} }
			}
		}
		if len(observables) > 0 {
			if _, err := m.RegisterCallback(r.observe, observables...); err != nil {
				otel.Handle(err)
			}
		}
		r.router = metrics.NewRouter(ins, r.TopicClass, func(inst int, values []string) func(float64) {
			kvs := make([]attribute.KeyValue, len(values))
			for j, l := range ins[inst].Labels {
				kvs[j] = attribute.String(l.String(), values[j])
			}
			return binds[inst](attribute.NewSet(kvs...))
		})
	})
}

// Record implements metrics.Recorder: it updates the instruments that
// metrics.Instruments lists for the event's Kind, and ignores Kinds it does
// not know.
func (r *Recorder) Record(e metrics.Event) {
	r.init()
	r.router.Record(e)
}
