package prometheus

import (
	"sync"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/pushpull/pushpull/metrics"
)

// DefaultNamespace is the prefix of every metric name unless Namespace says
// otherwise.
const DefaultNamespace = "pushpull"

// Recorder is a metrics.Recorder that keeps Prometheus metrics, and a
// prometheus.Collector that exports them: register it, then give it to the
// components as their Metrics.
//
//	rec := &prometheus.Recorder{}
//	registry.MustRegister(rec)
//	b := &bus.Memory{Metrics: rec}
//
// The zero value is ready to use. Set the fields before the first call of
// a method and do not change them afterwards. A Recorder is safe for
// concurrent use; Record allocates only the first time it sees a new
// combination of label values.
type Recorder struct {
	// Namespace is the prefix of the metric names: "<Namespace>_<name>".
	// Empty means DefaultNamespace.
	Namespace string
	// TopicClass maps topics to the values of the topic_class label. Nil
	// puts every topic in the class "all"; raw topic names are never
	// used unless TopicClass returns them.
	TopicClass metrics.TopicClass
	// ConstLabels are added to every metric (for example the instance
	// of a service that runs several).
	ConstLabels prom.Labels

	once       sync.Once
	collectors []prom.Collector
	router     *metrics.Router
}

var (
	_ metrics.Recorder = (*Recorder)(nil)
	_ prom.Collector   = (*Recorder)(nil)
)

func (r *Recorder) init() {
	r.once.Do(func() {
		ns := r.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
		ins := metrics.Instruments()
		binds := make([]func(values []string) func(float64), len(ins))
		for i, in := range ins {
			names := make([]string, len(in.Labels))
			for j, l := range in.Labels {
				names[j] = l.String()
			}
			switch in.Type {
			case metrics.Counter:
				v := prom.NewCounterVec(prom.CounterOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels}, names)
				r.collectors = append(r.collectors, v)
				binds[i] = func(values []string) func(float64) { return v.WithLabelValues(values...).Add }
			case metrics.Gauge:
				v := prom.NewGaugeVec(prom.GaugeOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels}, names)
				r.collectors = append(r.collectors, v)
				binds[i] = func(values []string) func(float64) { return v.WithLabelValues(values...).Add }
			case metrics.Histogram:
				v := prom.NewHistogramVec(prom.HistogramOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels, Buckets: in.Buckets}, names)
				r.collectors = append(r.collectors, v)
				binds[i] = func(values []string) func(float64) { return v.WithLabelValues(values...).Observe }
			}
		}
		r.router = metrics.NewRouter(ins, r.TopicClass, func(inst int, values []string) func(float64) {
			return binds[inst](values)
		})
	})
}

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prom.Desc) {
	r.init()
	for _, c := range r.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (r *Recorder) Collect(ch chan<- prom.Metric) {
	r.init()
	for _, c := range r.collectors {
		c.Collect(ch)
	}
}

// Record implements metrics.Recorder: it updates the metrics that
// metrics.Instruments lists for the event's Kind, and ignores Kinds it does
// not know.
func (r *Recorder) Record(e metrics.Event) {
	r.init()
	r.router.Record(e)
}
