// Package webhooktest is the conformance suite for webhook.Store
// implementations.
//
// RunStore is the one definition of what a Dispatcher expects of its
// store: the memory store of package webhook and the Redis and PostgreSQL
// stores all pass it, so a Dispatcher, the admin API and the recovery
// functions work the same on each.
//
//	func TestStore(t *testing.T) {
//		webhooktest.RunStore(t, func(testing.TB) webhook.Store { return webhook.NewMemoryStore() })
//	}
//
// The factory is called once per test, from parallel tests, and must
// return a store that shares nothing with the stores returned earlier (for
// a networked store, a fresh key prefix or schema per call) and whose
// clock is the real one. It may register its own clean-up with
// tb.Cleanup.
//
// The suite checks cursors; registry create, read, update, delete and
// list, optimistic concurrency (exactly one of concurrent updates of a
// version wins) and the revision; leases (exclusive, renewed, released,
// taken over after expiry, exactly one winner of concurrent takers);
// attempts and dead letters with every query filter, limits, ordering,
// replacement, removal and pruning; and that every field survives a round
// trip through the store, binary bodies included. Times it stores are
// whole milliseconds, so a store may keep microseconds.
//
// RunDispatcher runs webhook.Dispatchers on stores of the same factory, with
// a bus.Memory, and checks the promises of operating webhooks end to end:
// two instances on one store, one dying mid-stream, deliver 1,000 events
// exactly once and in order to a Receiver; Recover since T redelivers
// exactly the failed set; a rate limit holds within 10 %; a failing or
// hanging endpoint does not delay a healthy one; the Registry is followed
// live.
//
//	func TestDispatcher(t *testing.T) {
//		webhooktest.RunDispatcher(t, newStore)
//	}
//
// RunInstances is the failover test as two processes see it: each
// Dispatcher on its own handle of the store (its own connections), the
// Receiver deduplicating through the backend's IdempotencyStore, and every
// store call of the instance that dies failing from then on, so it neither
// saves its position nor gives its lease back; the survivor sends nothing
// while the lease is held and delivers the rest once it expires. RunVolume
// checks queries and pruning past a thousand rows, and BenchStore measures
// a store's operations (adding an attempt, renewing a lease, updating an
// endpoint, reading the revision, listing attempts).
package webhooktest
