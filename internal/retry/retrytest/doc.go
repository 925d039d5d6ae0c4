// Package retrytest checks, through a client package's public API, that
// the client follows the retry policy of package retry: [Run] drives the
// package's real Handler behind a [Gate] that refuses requests with
// scripted statuses, read by the package's own Client, each scenario in a
// testing/synctest bubble over an in-memory network (testnet), so
// waits are measured on the fake clock. The poll, longpoll, sse and ws
// tests run it with a [Harness] each. It is internal and meant for _test.go
// files only.
package retrytest
