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
// Two more checks are for networked brokers, whose state lives on a server:
//
//   - RunInstances takes a factory returning two brokers that share storage
//     (the same server and key prefix or stream) but not connections, as
//     two processes would, and checks that what one publishes the other
//     delivers, resumes from and reads alike.
//   - CheckDisruption publishes through one broker while the test disrupts
//     the backend (dropped connections, a restarted server) and checks that
//     a consumer following the topic through another broker got every
//     message, or was told through an expired cursor which it missed: none
//     is lost silently. The disruption itself stays in the adapter's test.
//
// Failures are reported from the test goroutine only; goroutines started by
// the suite report over channels and end before each test returns.
package bustest
