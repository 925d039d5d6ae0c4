// Package webhookstore keeps the state of webhook Dispatchers and Receivers
// in PostgreSQL, beside the pgbus tables, so that every instance of a
// service shares it and a restart loses none of it:
//
//   - [Cursors] is a webhook.CursorStore: each endpoint's position, so a
//     Dispatcher restarted on any instance resumes where the last stopped.
//   - [Idempotency] is a webhook.IdempotencyStore: a Receiver's claims of
//     event ids, so of concurrent deliveries of one event to any number of
//     instances exactly one runs the handler.
//   - [DeadLetters] keeps the deliveries a Dispatcher gave up on, to list
//     and redeliver them later; set Dispatcher.OnDeadLetter to its
//     OnDeadLetter method.
//   - [Attempts] is the attempt log: one row per attempt of every
//     delivery; set Dispatcher.OnAttempt to its OnAttempt method.
//
// Create the tables with [Migrate], or apply the SQL that [Schema] returns
// (the file schema.sql of this package, with the prefix in place). The
// prefix follows the rules of pgbus.ValidatePrefix and defaults to
// pgbus.DefaultPrefix; the tables are "<prefix>webhook_cursors",
// "<prefix>webhook_claims", "<prefix>webhook_dead_letters" and
// "<prefix>webhook_attempts".
//
// Expired claims and old attempts are removed by [Idempotency.Sweep] and
// [Attempts.Prune], each a bounded statement; Idempotency also sweeps now
// and then as it claims.
package webhookstore
