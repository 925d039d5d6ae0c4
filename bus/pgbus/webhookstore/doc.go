// Package webhookstore keeps the state of webhook Dispatchers and Receivers
// in PostgreSQL, beside the pgbus tables, so that every instance of a
// service shares it and a restart loses none of it.
//
// [Store] is a webhook.Store: everything a Dispatcher persists, in one
// value. Set it as Dispatcher.Store and several instances deliver the
// endpoints of one registry between them:
//
//   - cursors: each endpoint's position, so a Dispatcher restarted on any
//     instance resumes where the last stopped;
//   - the endpoint registry: configurations as JSON, with a version per
//     endpoint (optimistic concurrency: an UPDATE ... WHERE version = $n)
//     and a revision counter bumped in the transaction of every change, so
//     followers poll one row;
//   - leases: one row per endpoint, taken or renewed by an INSERT ... ON
//     CONFLICT that succeeds only for the holder or once the lease expired
//     by the database's clock, so the instances' clocks do not matter;
//   - the attempt log and the dead letters, queried by endpoint, delivery
//     and time, and pruned in bounded statements for retention.
//
// [Idempotency] is a webhook.IdempotencyStore for Receivers: a claim is
// one INSERT ... ON CONFLICT, so of concurrent deliveries of one event to
// any number of instances exactly one runs the handler.
//
// [Cursors], [DeadLetters] and [Attempts] are the earlier, separate
// stores; they keep working on the same tables (DeadLetters.OnDeadLetter
// and Attempts.OnAttempt as Dispatcher hooks) and a Store reads what they
// wrote. New code should use Store.
//
// Create the tables with [Migrate], or apply the SQL that [Schema] returns
// (the file schema.sql of this package, with the prefix in place); it
// adds the tables and columns of Store to databases migrated by earlier
// versions. The prefix follows the rules of pgbus.ValidatePrefix and
// defaults to pgbus.DefaultPrefix; the tables are "<prefix>webhook_cursors",
// "<prefix>webhook_claims", "<prefix>webhook_dead_letters",
// "<prefix>webhook_attempts", "<prefix>webhook_endpoints",
// "<prefix>webhook_revision" and "<prefix>webhook_leases".
//
// Endpoint secrets and header values are sealed in the JSON of the
// endpoints table when Store.Secrets is set (a webhook.SecretCipher:
// AES-256-GCM under keys kept apart from the database), so a dump or a
// replica holds none in the clear; without it they are stored as they are
// given.
//
// Expired claims are removed by [Idempotency.Sweep], which Idempotency
// also runs now and then as it claims; old attempts and dead letters by
// Store.PruneAttempts and Store.PruneDeadLetters (the Dispatcher calls
// them when its Retention is set).
package webhookstore
