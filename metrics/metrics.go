package metrics

import "time"

// A Recorder receives the events of the components it is given to.
//
// Record is called on the hot paths of handlers, clients and brokers, often
// with a lock held: it must return quickly, must not block, and must not
// call back into the component that reports. It is called from many
// goroutines at once, so implementations must be safe for concurrent use.
// Record must not retain strings of the event beyond what it needs for
// labels (they are the caller's, but Go strings are immutable, so keeping
// them is safe, only potentially wasteful).
//
// A component holds a Recorder in a field called Metrics; a nil field means
// no instrumentation and costs one comparison per event site. Components
// check for nil before building an Event, so an unset Recorder costs no
// allocation and no clock read.
type Recorder interface {
	Record(Event)
}

// RecorderFunc adapts a function to a Recorder.
type RecorderFunc func(Event)

// Record calls f(e).
func (f RecorderFunc) Record(e Event) { f(e) }

// Multi returns a Recorder that hands each event to every non-nil recorder
// of rs in turn. It returns nil when none is left, and the recorder itself
// when only one is, so the nil convention and the cost of a single recorder
// are kept.
func Multi(rs ...Recorder) Recorder {
	var keep multi
	for _, r := range rs {
		switch r := r.(type) {
		case nil:
		case multi:
			keep = append(keep, r...)
		default:
			keep = append(keep, r)
		}
	}
	switch len(keep) {
	case 0:
		return nil
	case 1:
		return keep[0]
	}
	return keep
}

type multi []Recorder

func (m multi) Record(e Event) {
	for _, r := range m {
		r.Record(e)
	}
}

// An Event is one observation reported to a Recorder. It is a small value,
// passed by value, so reporting allocates nothing. Which fields are set
// depends on the Kind (see each Kind's documentation); the others are zero.
type Event struct {
	// Kind says what happened.
	Kind Kind
	// Transport names the reporting component: "poll", "longpoll",
	// "sse", "ws" or "webhook" for the transports (clients add the
	// suffix "-client": "sse-client"), and for the broker Kinds (Bus*,
	// Broker*) the broker: "memory", "redis", "nats", "postgres". It
	// must come from a small fixed set: adapters use it as a label.
	Transport string
	// Topic is the topic concerned, or "" when the event concerns none
	// (or several). Adapters never use it as a label as it is: they
	// map it to a class with a TopicClass.
	Topic string
	// Op names an operation, for the Kinds that say so (a broker
	// command, a cursor-store call). A small fixed set.
	Op string
	// Outcome is the Kind's one bounded qualifier: the reason a
	// connection or subscription ended, the outcome of a webhook
	// attempt, a breaker's new state. A small fixed set; see the
	// Outcome constants.
	Outcome string
	// N is the count or amount the Kind defines: messages delivered,
	// messages of lag, a change of a gauge.
	N int64
	// Bytes is the size of what was delivered or published, in bytes.
	Bytes int64
	// Duration is the time the Kind measures: a latency, a connection's
	// lifetime, a retry's delay.
	Duration time.Duration
	// Status is an HTTP status code, for the Kinds that say so; 0 when
	// there was no response.
	Status int
}

// Outcome values shared by several Kinds. Reporters may use others where
// a Kind documents them; every value must come from a small fixed set.
const (
	// Reasons a connection or subscription ended.
	ReasonDone     = "done"     // the server ended it normally (a poll answered, a long poll timed out)
	ReasonClosed   = "closed"   // the consumer closed it or went away
	ReasonCanceled = "canceled" // its context was done
	ReasonSlow     = "slow"     // cut as a slow consumer
	ReasonExpired  = "expired"  // its cursor expired (a reset)
	ReasonShutdown = "shutdown" // the server or broker is closing
	ReasonError    = "error"    // any other failure

	// Outcomes of a publish, a broker round trip.
	OutcomeOK    = "ok"
	OutcomeError = "error"

	// Outcomes of a webhook attempt (OutcomeOK for a 2xx).
	OutcomeRetry  = "retry"  // failed; another attempt is scheduled
	OutcomeFailed = "failed" // failed; no attempt is left (the message is dead-lettered)
	OutcomeGone   = "gone"   // the endpoint answered 410 Gone and was disabled

	// Why a webhook endpoint was disabled, besides OutcomeGone.
	ReasonFailing = "failing" // its deliveries failed without a success for too long
)

// StatusClass returns the class of an HTTP status code as a label value:
// "1xx" to "5xx", or "none" for 0 (no response) and codes outside 100-599.
func StatusClass(status int) string {
	switch {
	case status >= 100 && status < 200:
		return "1xx"
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "none"
}
