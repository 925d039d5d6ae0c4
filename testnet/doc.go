// Package testnet holds the network helpers for testing services built on
// pushpull, the ones this project's own tests and benchmarks use, so each
// concept has one implementation:
//
//   - [Pipe] is an in-memory network of [net.Pipe] connections: a
//     [net.Listener] for an [http.Server] and a DialContext for an
//     [http.Transport]. Its connections block durably, so a server and
//     client on a Pipe run inside a testing/synctest bubble, on the
//     bubble's fake clock. [Serve] starts a server on a new Pipe and returns
//     a client for it; WebSocket upgrades (hijacking) work over it.
//   - [KillListener] wraps a listener and cuts the connections it accepts,
//     after a random number of written bytes or on demand, and counts the
//     cuts: the failure injection of the resume tests. [Cutter] does the
//     same per HTTP request, before, during or after its handler runs.
//   - [CountingListener] counts the bytes its connections read and write,
//     for benchmarks that report bytes per message.
//   - [Percentile] summarises latencies measured by benchmarks.
//   - [StartChild] runs the test binary again as a load generator, so that a
//     benchmark's [CPUTime] and memory figures are the server's alone.
//   - [StartProc] runs a server process of the test's own (a node of a Redis
//     or NATS cluster on loopback ports) that the test kills as a crash would
//     and starts again; [Binary], [FreePorts] and [WaitFor] are its helpers.
//
// The zero values of KillListener and CountingListener need only their
// Listener field, Cutter's its Handler; Pipe is made by [NewPipe] and Child
// by StartChild. All are safe for concurrent use. The package is meant for
// _test.go files, as net/http/httptest is; it depends on nothing but the
// standard library.
package testnet
