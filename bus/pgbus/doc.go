// Package pgbus runs the pushpull bus on PostgreSQL (through pgx v5), so that
// several instances of a service share topics with nothing but the database
// they already have, and so that a service can publish inside its own
// transaction: the message exists, and reaches subscribers, SSE clients,
// WebSocket clients and webhook endpoints, if and only if the transaction
// commits (the transactional outbox, without a relay).
//
// # Running it
//
//	b, err := pgbus.New("postgres://app@localhost:5432/app")
//	if err != nil { ... }
//	defer b.Close()
//	if err := b.Migrate(ctx); err != nil { ... } // or apply Schema yourself
//	h := &sse.Handler{Broker: b}
//
// and, in the service's own transaction:
//
//	tx, err := pool.Begin(ctx)
//	... INSERT INTO orders ...
//	if _, err := b.PublishTx(ctx, tx, "orders", bus.Message{Type: "order.created", Data: body}); err != nil { ... }
//	err = tx.Commit(ctx)
//
// # Schema
//
// Migrate (or the SQL that Schema returns, for teams that run their own
// migrations; it is the file schema.sql of this package with the prefix in
// place) creates, for a Prefix "pushpull_":
//
//	pushpull_topics    (topic PK, epoch, top, first, touched)
//	pushpull_messages  (topic, "offset", at, record; PK (topic, "offset"))
//	pushpull_publish(topic, epoch, record, size)  the publication, one round trip
//	pushpull_expire(topic, cutoff, max)            one bounded step of retention
//
// and the broker notifies on the channel pushpull_bus. The prefix is 1 to
// 30 lower-case letters, digits and underscores (ValidatePrefix), so
// several applications or test runs share a database without meeting.
// record is the stable stored form of bus.AppendRecord.
//
// # Contiguous offsets
//
// Offsets are not taken from a sequence: sequences are not transactional, so
// a rolled-back transaction would leave a hole, and two transactions could
// commit their values out of order. Instead pushpull_publish locks the
// topic's row (SELECT ... FOR UPDATE), takes top+1, and writes the new top
// and the message in the same transaction. The lock is held until that
// transaction ends, so concurrent publishers of a topic take turns: each
// one reads the top the previous one committed, and one that rolls back
// gives its offset back with its update. Offsets are therefore contiguous
// (1, 2, 3, … per epoch), every ID is unique, and transactions of one topic
// commit in offset order, so notifications, which PostgreSQL delivers in
// commit order, arrive in offset order too. The price is that publications
// to one topic are serialised, each holding the lock for the rest of its
// transaction: keep PublishTx transactions short. Publishers of different
// topics do not wait for each other. Under REPEATABLE READ or SERIALIZABLE
// a concurrent publication makes the later transaction fail with a
// serialization error, to be retried; READ COMMITTED waits instead.
//
// A topic's epoch is drawn when its row is created and kept with it, so
// the epoch changes only when the row was removed (after MetaTTL, or by
// hand): then old cursors are answered with bus.ErrCursorExpired, never
// with other messages. A restarted or failed-over server keeps every
// committed message, so a restart costs subscribers no reset at all.
//
// # Delivery
//
// Each process runs one listener connection (made from Pool's
// configuration) that LISTENs on the broker's channel. pushpull_publish
// calls pg_notify with "<topic> <epoch> <offset> <base64 record>" (the
// record only when it is small enough for the 8,000-byte payload limit;
// otherwise the listener reads the message from the table). NOTIFY is
// transactional: it is sent on commit and dropped on rollback. The
// listener hands each message of a topic that has subscribers in this
// process to the shared fan-out engine, bus.Hub, which delivers it to
// every local subscriber without waiting for any, catches up lagging
// ones from the table, cuts stalled ones with bus.ErrSlowConsumer and
// proves continuity.
//
// All topics of a Prefix share the one channel, so every listener receives
// every notification of its prefix and drops those of topics that have no
// subscriber in its process; give unrelated applications their own prefix.
//
// Notifications can be lost (PostgreSQL keeps none for a session that is
// not listening, for example while the listener reconnects). The broker
// never relies on them alone: after every (re)connection, once LISTEN is in
// effect, and every CheckInterval, it reads the tops of the topics with
// local subscribers in one query and sends subscribers that are behind to
// the history. So a lost notification delays a message by CheckInterval at
// most and never loses it.
//
// Every publisher's commit takes PostgreSQL's global notification lock
// briefly, which bounds the publication rate of one database (see
// BENCHMARKS.md for figures); the notification queue (8 GB by default)
// fills only if a listening session stops reading.
//
// # Retention
//
// Each topic keeps HistorySize messages: pushpull_publish removes the
// oldest beyond that in the same transaction. The retention job, run by
// each Broker every RetentionInterval (or by you through Expire), removes
// messages older than HistoryTTL from the start of each history, a bounded
// number per topic and run, each topic in a short transaction of its own,
// and removes topics whose history is empty and whose last publication is
// older than HistoryTTL plus MetaTTL. Age is judged by the database's
// clock. The history stays contiguous: a topic's retained messages are
// always offsets first..top.
//
// # Guarantees
//
//   - Every message published, with Publish or with PublishTx in a
//     transaction that committed, is delivered to every subscriber whose
//     cursor precedes it, once, in order, on any instance; or, if the
//     subscriber fell so far behind that its position left the history,
//     the subscription ends with bus.ErrCursorExpired.
//   - A message published with PublishTx in a transaction that rolled back
//     was never stored, never delivered and took no offset.
//   - Read, Top and Subscribe create nothing; only a publication creates a
//     topic's row.
package pgbus
