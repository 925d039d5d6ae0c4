// Package webhookstore keeps the state of package webhook in Redis, so that
// a webhook.Dispatcher or a webhook.Receiver runs on several instances of a
// service at once:
//
//   - [Cursors] is a webhook.CursorStore: each endpoint's delivery position,
//     so that a Dispatcher restarted on any instance resumes where the last
//     one stopped;
//   - [Idempotency] is a webhook.IdempotencyStore: the event ids the
//     Receivers have claimed or handled, shared between instances behind a
//     load balancer, so that a delivery reaching two instances at once runs
//     the handler once.
//
// It lives beside package redisbus, in the same module, and may use the same
// Redis, but package redisbus does not depend on it: a service that needs
// only the bus never imports package webhook through it.
//
// # Running it
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	d := &webhook.Dispatcher{Broker: b, Cursors: webhookstore.NewCursors(client)}
//	r := &webhook.Receiver{Keys: keys, Handler: h, Idempotency: webhookstore.NewIdempotency(client)}
//
// The constructors take a redis.UniversalClient: a *redis.Client, a
// *redis.ClusterClient, a failover client or a Ring. Each operation touches
// one key, so the stores work on Redis Cluster.
//
// # Layout
//
// Every key starts with Prefix ([DefaultPrefix] when empty):
//
//	<prefix>cursor:<key>   string: the cursor of one endpoint and topic
//	<prefix>event:<key>    string: "pending" while claimed, "done" once handled,
//	                       with the claim's or the memory's TTL
//
// An event is claimed with SET NX PX in one Lua script, so of concurrent
// claims of a free key exactly one wins; Release deletes a key only while it
// is still a pending claim, so a handled event is never forgotten.
//
// # Durability
//
// The stores are as durable as the Redis holding them. Run it with AOF
// (appendfsync always) for cursors to survive a Redis restart; without
// persistence a restart loses them, and the Dispatcher starts each endpoint
// afresh from its Endpoint.From.
//
// # Concurrency
//
// A Cursors and an Idempotency are safe for concurrent use. They start no
// goroutine; closing the client is the caller's business.
package webhookstore
