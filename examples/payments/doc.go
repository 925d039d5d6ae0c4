// Package payments is the payment-notification app of the examples: a
// provider that takes payments and a consumer that is told about them by
// signed webhooks, run as two programs (./provider and ./consumer).
//
// The provider stores each payment and publishes "payment.succeeded" or
// "payment.failed" on the topic "payments". With PostgreSQL (the -pg flag)
// the event is published with pgbus.Broker.PublishTx in the transaction
// that inserts the payment row, the transactional outbox: the event exists
// if and only if the payment committed, and a payment rolled back after
// its insert publishes nothing. Without PostgreSQL both live in memory
// (bus.Memory) and there is no transaction. A webhook.Dispatcher follows
// the topic and posts each event, signed the Standard Webhooks way, to the
// consumer; with PostgreSQL its cursor is kept in the database too
// (webhookstore.Cursors), so a restarted provider resumes where it stopped.
//
// The consumer's webhook.Receiver verifies the signature and the
// timestamp, refuses forgeries (401) and malformed requests (400),
// handles every event id once, and publishes what it accepted on its own
// bus, from which its page shows the payments live over Server-Sent
// Events.
package payments
