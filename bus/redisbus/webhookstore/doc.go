// Package webhookstore keeps the state of package webhook in Redis, so that
// a webhook.Dispatcher or a webhook.Receiver runs on several instances of a
// service at once:
//
//   - [Store] is a webhook.Store: everything a Dispatcher persists (cursors,
//     the endpoint registry, leases, the attempt log and dead letters), so
//     that several instances deliver the endpoints of one registry between
//     them, each endpoint from one instance at a time;
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
//	d := &webhook.Dispatcher{Broker: b, Store: webhookstore.NewStore(client)}
//	r := &webhook.Receiver{Keys: keys, Handler: h, Idempotency: webhookstore.NewIdempotency(client)}
//
// The constructors take a redis.UniversalClient: a *redis.Client, a
// *redis.ClusterClient, a failover client or a Ring. Each operation of
// Cursors and Idempotency touches one key, so they work on Redis Cluster as
// they are. The scripts of Store touch several keys: on Redis Cluster give
// it a Prefix with a hash tag ("{webhooks}:"), so all its keys share one
// slot (the tests of package redisbus run the store's conformance suite
// so on a cluster; without the tag the scripts fail with CROSSSLOT).
// Cursors is the same data as a Store's cursors, under the same
// Prefix: code that used Cursors keeps its positions when it moves to
// Store.
//
// # Layout
//
// Every key starts with Prefix ([DefaultPrefix] when empty):
//
//	<prefix>cursor:<key>   string: the cursor of one endpoint and topic
//	<prefix>event:<key>    string: "pending" while claimed, "done" once handled,
//	                       with the claim's or the memory's TTL
//	<prefix>endpoint:<id>  hash: config (the JSON of webhook.EndpointConfig),
//	                       version, created, updated (server time)
//	<prefix>endpoints      sorted set: every endpoint ID, all scored 0
//	<prefix>revision       string: counter bumped by every registry change
//	<prefix>lease:<key>    string: the holder, expiring with the lease (PX)
//	<prefix>attempts:<ep>  sorted set: the attempts of endpoint ep, scored by
//	                       At in microseconds; a member is the nanoseconds
//	                       beyond (3 digits), a sequence number (20 digits)
//	                       and the attempt's JSON
//	<prefix>attempt-seq    string: the sequence of attempts
//	<prefix>attempt-endpoints  set: endpoints with attempts, for pruning
//	<prefix>dead:<ep>      hash: delivery to the dead letter's JSON
//	<prefix>dead-at:<ep>   sorted set: deliveries scored by At in microseconds
//	<prefix>dead-endpoints set: endpoints with dead letters
//
// Every change to several keys is one Lua script: a registry change checks
// the version, writes the endpoint and bumps the revision at once; a lease
// is taken when free or expired, or renewed by its holder, and released
// only by it. Created, Updated and lease expiry are the Redis server's
// clock, so the instances' clocks do not matter. Queries read the sorted
// sets a page at a time; pruning removes a thousand members per script.
//
// An event is claimed with SET NX PX in one Lua script, so of concurrent
// claims of a free key exactly one wins; Release deletes a key only while it
// is still a pending claim, so a handled event is never forgotten.
//
// # Durability
//
// The stores are as durable as the Redis holding them. Run it with AOF
// (appendfsync always) for cursors, endpoints and dead letters to survive a
// Redis restart; without persistence a restart loses them, and the
// Dispatcher starts each endpoint afresh from its Endpoint.From. Endpoint
// secrets and header values are sealed when Store.Secrets is set (a
// webhook.SecretCipher: AES-256-GCM under keys kept apart from Redis), so
// an RDB or AOF file holds none in the clear; without it they are stored
// as they are given.
//
// # Concurrency
//
// A Store, a Cursors and an Idempotency are safe for concurrent use. They
// start no goroutine; closing the client is the caller's business.
package webhookstore
