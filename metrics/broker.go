package metrics

import "time"

// Broker reports the events of a broker adapter (bus/redisbus,
// bus/natsbus, bus/pgbus, or a third party's) on Recorder, with Name as the
// event's Transport. With a nil Recorder every method does nothing, reads
// no clock and allocates nothing, so an adapter keeps one Broker value and
// calls it unconditionally.
type Broker struct {
	Recorder Recorder
	Name     string
}

// Start returns the start of a timed operation: the current time, or the
// zero Time without a Recorder.
func (b Broker) Start() time.Time {
	if b.Recorder == nil {
		return time.Time{}
	}
	return time.Now()
}

// Publish runs publish, a publication to topic of size bytes, reports it
// (BusPublished, timed) and returns its error. Without a Recorder it only
// runs publish.
func (b Broker) Publish(topic string, size int, publish func() error) error {
	if b.Recorder == nil {
		return publish()
	}
	start := time.Now()
	err := publish()
	b.Published(topic, start, size, err)
	return err
}

// Published reports a publication to topic of a message of size bytes
// that began at start (from Start) and ended with err (BusPublished).
func (b Broker) Published(topic string, start time.Time, size int, err error) {
	if b.Recorder == nil {
		return
	}
	b.Recorder.Record(Event{Kind: BusPublished, Transport: b.Name, Topic: topic,
		Outcome: outcome(err), Bytes: int64(size), Duration: time.Since(start)})
}

// RoundTrip reports a request op to the broker's server that began at start
// and ended with err (BrokerRoundTrip); an answer such as "not found" is
// not an error and should be passed as nil.
func (b Broker) RoundTrip(op string, start time.Time, err error) {
	if b.Recorder == nil {
		return
	}
	b.Recorder.Record(Event{Kind: BrokerRoundTrip, Transport: b.Name, Op: op, Outcome: outcome(err), Duration: time.Since(start)})
}

// CursorExpired reports a cursor of topic that op ("subscribe", "read")
// refused as expired (BusCursorExpired).
func (b Broker) CursorExpired(op, topic string) {
	if b.Recorder != nil {
		b.Recorder.Record(Event{Kind: BusCursorExpired, Transport: b.Name, Topic: topic, Op: op})
	}
}

// Error reports a failure of the broker's connection or feed (BrokerError).
func (b Broker) Error(op string) {
	if b.Recorder != nil {
		b.Recorder.Record(Event{Kind: BrokerError, Transport: b.Name, Op: op})
	}
}

func outcome(err error) string {
	if err != nil {
		return OutcomeError
	}
	return OutcomeOK
}
