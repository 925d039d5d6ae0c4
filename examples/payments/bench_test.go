package payments_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/payments"
)

// BenchmarkPaymentToConsumer measures one payment from the store's Create
// to the consumer's bus: store (and, on PostgreSQL, commit), dispatch,
// sign, POST over loopback, verify, deduplicate, publish. Payments go one
// at a time, so ns/op is the end-to-end latency.
func BenchmarkPaymentToConsumer(b *testing.B) {
	p := payments.Payment{Amount: 1250, Currency: "EUR", Customer: "Ada", Status: "succeeded"}
	run := func(b *testing.B, d *demo, st payments.Store) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Create(b.Context(), p, payments.Succeed); err != nil {
				b.Fatal(err)
			}
			if m, ok := <-d.received.C(); !ok || m.Type != payments.TypeSucceeded {
				b.Fatalf("got %v %v: %v", m.Type, ok, d.received.Err())
			}
		}
	}
	b.Run("memory", func(b *testing.B) {
		mb := &bus.Memory{}
		b.Cleanup(func() { _ = mb.Close() })
		st := &payments.MemoryStore{Bus: mb}
		run(b, start(b, mb, st, nil), st)
	})
	b.Run("postgres", func(b *testing.B) {
		u := pgURL(b)
		pb, st, cursors := openPG(b, u, newPrefix(b, u))
		run(b, start(b, pb, st, cursors), st)
	})
}
