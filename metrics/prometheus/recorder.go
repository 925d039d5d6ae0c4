package prometheus

import (
	"maps"
	"sync"
	"sync/atomic"

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

	once   sync.Once
	insts  []instrument
	byKind [256][]update

	// series maps the series seen so far to their update functions. It
	// is replaced, never changed, so Record reads it without a lock: the
	// set of series stops growing soon after start.
	series atomic.Pointer[map[seriesKey]func(float64)]
	mu     sync.Mutex // serializes replacing series
}

var (
	_ metrics.Recorder = (*Recorder)(nil)
	_ prom.Collector   = (*Recorder)(nil)
)

// An instrument is one metric vector.
type instrument struct {
	labels    []metrics.Label
	collector prom.Collector
	counter   *prom.CounterVec
	gauge     *prom.GaugeVec
	histogram *prom.HistogramVec
}

// An update is what an event of a Kind does to an instrument.
type update struct {
	inst  int
	value metrics.Value
}

// A seriesKey names a series: an instrument and its label values.
type seriesKey struct {
	inst   int
	values [metrics.MaxLabels]string
}

func (r *Recorder) init() {
	r.once.Do(func() {
		ns := r.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
		r.series.Store(&map[seriesKey]func(float64){})
		for i, in := range metrics.Instruments() {
			names := make([]string, len(in.Labels))
			for j, l := range in.Labels {
				names[j] = l.String()
			}
			inst := instrument{labels: in.Labels}
			switch in.Type {
			case metrics.Counter:
				inst.counter = prom.NewCounterVec(prom.CounterOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels}, names)
				inst.collector = inst.counter
			case metrics.Gauge:
				inst.gauge = prom.NewGaugeVec(prom.GaugeOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels}, names)
				inst.collector = inst.gauge
			case metrics.Histogram:
				inst.histogram = prom.NewHistogramVec(prom.HistogramOpts{Namespace: ns, Name: in.Name, Help: in.Help, ConstLabels: r.ConstLabels, Buckets: in.Buckets}, names)
				inst.collector = inst.histogram
			}
			r.insts = append(r.insts, inst)
			for _, u := range in.Updates {
				r.byKind[u.Kind] = append(r.byKind[u.Kind], update{inst: i, value: u.Value})
			}
		}
	})
}

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prom.Desc) {
	r.init()
	for _, in := range r.insts {
		in.collector.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (r *Recorder) Collect(ch chan<- prom.Metric) {
	r.init()
	for _, in := range r.insts {
		in.collector.Collect(ch)
	}
}

// Record implements metrics.Recorder: it updates the metrics that
// metrics.Instruments lists for the event's Kind, and ignores Kinds it does
// not know.
func (r *Recorder) Record(e metrics.Event) {
	r.init()
	for _, u := range r.byKind[e.Kind] {
		k := seriesKey{inst: u.inst}
		in := &r.insts[u.inst]
		for j, l := range in.labels {
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
	values := k.values[:len(in.labels)]
	var add func(float64)
	switch {
	case in.counter != nil:
		c := in.counter.WithLabelValues(values...)
		add = func(v float64) {
			if v > 0 { // a counter never goes down
				c.Add(v)
			}
		}
	case in.gauge != nil:
		add = in.gauge.WithLabelValues(values...).Add
	default:
		add = in.histogram.WithLabelValues(values...).Observe
	}
	next := maps.Clone(old)
	next[k] = add
	r.series.Store(&next)
	return add
}
