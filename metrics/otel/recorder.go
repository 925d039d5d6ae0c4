package otel

import (
	"context"
	"maps"
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
// nothing. A Recorder is safe for concurrent use; Record allocates only the
// first time it sees a new combination of attribute values.
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
	insts  []instrument
	byKind [256][]update

	// series maps the series seen so far to their update functions. It
	// is replaced, never changed, so Record reads it without a lock.
	series atomic.Pointer[map[seriesKey]func(float64)]
	mu     sync.Mutex // serializes replacing series
}

var _ metrics.Recorder = (*Recorder)(nil)

// An instrument is one OpenTelemetry instrument.
type instrument struct {
	labels    []metrics.Label
	counter   metric.Int64Counter
	gauge     metric.Int64UpDownCounter
	histogram metric.Float64Histogram
}

type update struct {
	inst  int
	value metrics.Value
}

type seriesKey struct {
	inst   int
	values [metrics.MaxLabels]string
}

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
		r.series.Store(&map[seriesKey]func(float64){})
		for i, in := range metrics.Instruments() {
			name := Name(r.Prefix, in)
			inst := instrument{labels: in.Labels}
			var err error
			switch in.Type {
			case metrics.Counter:
				inst.counter, err = m.Int64Counter(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit))
			case metrics.Gauge:
				inst.gauge, err = m.Int64UpDownCounter(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit))
			case metrics.Histogram:
				inst.histogram, err = m.Float64Histogram(name, metric.WithDescription(in.Help), metric.WithUnit(in.Unit),
					metric.WithExplicitBucketBoundaries(in.Buckets...))
			}
			if err != nil {
				otel.Handle(err)
			}
			r.insts = append(r.insts, inst)
			for _, u := range in.Updates {
				r.byKind[u.Kind] = append(r.byKind[u.Kind], update{inst: i, value: u.Value})
			}
		}
	})
}

// Record implements metrics.Recorder: it updates the instruments that
// metrics.Instruments lists for the event's Kind, and ignores Kinds it does
// not know.
func (r *Recorder) Record(e metrics.Event) {
	r.init()
	for _, u := range r.byKind[e.Kind] {
		k := seriesKey{inst: u.inst}
		for j, l := range r.insts[u.inst].labels {
			k.values[j] = e.Label(l, r.TopicClass)
		}
		add := (*r.series.Load())[k]
		if add == nil {
			add = r.resolve(k)
		}
		add(e.Value(u.value))
	}
}

// resolve returns, creating it the first time, the function that updates
// the series k.
func (r *Recorder) resolve(k seriesKey) func(float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.series.Load()
	if add := old[k]; add != nil {
		return add
	}
	in := &r.insts[k.inst]
	kvs := make([]attribute.KeyValue, len(in.labels))
	for j, l := range in.labels {
		kvs[j] = attribute.String(l.String(), k.values[j])
	}
	set := metric.WithAttributeSet(attribute.NewSet(kvs...))
	adds, recs := []metric.AddOption{set}, []metric.RecordOption{set}
	ctx := context.Background()
	var add func(float64)
	switch {
	case in.counter != nil:
		add = func(v float64) {
			if v > 0 { // a counter never goes down
				in.counter.Add(ctx, int64(v), adds...)
			}
		}
	case in.gauge != nil:
		add = func(v float64) { in.gauge.Add(ctx, int64(v), adds...) }
	case in.histogram != nil:
		add = func(v float64) { in.histogram.Record(ctx, v, recs...) }
	default:
		add = func(float64) {} // its creation failed
	}
	next := maps.Clone(old)
	next[k] = add
	r.series.Store(&next)
	return add
}
