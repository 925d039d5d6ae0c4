package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// A Router is the core of an adapter: it resolves each event to the series
// of the Instruments its Kind updates (an instrument and label values), and
// calls the update function of each. The adapter gives it a bind function
// that makes the update function of a series, once per series. A Router is
// safe for concurrent use; Record allocates only when it meets a new
// series, and reads no lock.
type Router struct {
	class  TopicClass
	bind   func(inst int, labelValues []string) func(float64)
	insts  []routed
	byKind [256][]update

	// series maps the series seen so far to their update functions. It
	// is replaced, never changed, so Record reads it without a lock: the
	// set of series stops growing soon after start.
	series atomic.Pointer[map[seriesKey]*series]
	mu     sync.Mutex // serializes replacing series
}

var _ Recorder = (*Router)(nil)

// routed is the Router's view of an Instrument.
type routed struct {
	labels  []Label
	counter bool
	last    atomic.Pointer[series] // the series updated last: most events repeat it
}

type update struct {
	inst  int
	value Value
}

type seriesKey struct {
	inst   int
	values [MaxLabels]string
}

type series struct {
	values [MaxLabels]string
	add    func(float64)
}

// NewRouter returns a Router for the instruments ins (as Instruments
// returns them), mapping topics with class. bind is called once per
// series, the first time an event updates it, with the index of its
// instrument in ins and its label values in the order of the instrument's
// Labels; it returns the function that updates the series with a value:
// adds it (Counter, Gauge) or observes it (Histogram). The Router never
// hands a Counter's function a value that is not positive.
func NewRouter(ins []Instrument, class TopicClass, bind func(inst int, labelValues []string) func(float64)) *Router {
	r := &Router{class: class, bind: bind, insts: make([]routed, len(ins))}
	for i, in := range ins {
		r.insts[i].labels = append([]Label(nil), in.Labels...)
		r.insts[i].counter = in.Type == Counter
		for _, u := range in.Updates {
			r.byKind[u.Kind] = append(r.byKind[u.Kind], update{inst: i, value: u.Value})
		}
	}
	r.series.Store(&map[seriesKey]*series{})
	return r
}

// Record implements Recorder: it updates the series the event's Kind
// updates, and ignores Kinds that update none.
func (r *Router) Record(e Event) {
	for _, u := range r.byKind[e.Kind] {
		in := &r.insts[u.inst]
		v := e.Value(u.value)
		if in.counter && v <= 0 {
			continue // a counter never goes down
		}
		var values [MaxLabels]string
		for j, l := range in.labels {
			values[j] = e.Label(l, r.class)
		}
		s := in.last.Load()
		if s == nil || s.values != values {
			s = (*r.series.Load())[seriesKey{u.inst, values}]
			if s == nil {
				s = r.resolve(seriesKey{u.inst, values})
			}
			in.last.Store(s)
		}
		s.add(v)
	}
}

// resolve returns, creating it the first time, the series k.
func (r *Router) resolve(k seriesKey) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.series.Load()
	if s := old[k]; s != nil {
		return s
	}
	s := &series{values: k.values, add: r.bind(k.inst, k.values[:len(r.insts[k.inst].labels)])}
	next := maps.Clone(old)
	next[k] = s
	r.series.Store(&next)
	return s
}
