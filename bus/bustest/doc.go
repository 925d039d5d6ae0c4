// Package bustest is the conformance suite for bus.Broker implementations.
//
// Run is the one definition of broker behaviour: the memory broker, the Redis
// adapter and the NATS adapter all pass it, so a transport written against
// bus.Broker works the same on each. Bench measures the same operations for
// every broker.
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(tb testing.TB) bus.Broker { return &bus.Memory{} })
//	}
//
// The factory is called once per test and must return a broker that shares
// no topic with brokers returned earlier (for a networked broker, use a fresh
// key prefix or stream per call) and that is closed by the suite through
// t.Cleanup. The suite discovers the broker's history size itself; the broker
// must keep between 1,000 and 100,000 messages per topic, must not cut a
// subscriber that falls a quarter of that behind during a burst, and must cut
// one that stops reading (ErrSlowConsumer) within a few seconds once it is
// three quarters of the history behind, while its position is still
// retained.
//
// Failures are reported from the test goroutine only; goroutines started by
// the suite report over channels and end before each test returns.
package bustest
