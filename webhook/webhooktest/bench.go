package webhooktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/webhook"
)

// BenchStore measures the store operations a Dispatcher makes per
// delivery or per lease period, and the reads of the admin API: adding an
// attempt, renewing a lease, updating an endpoint, reading the revision,
// and listing a hundred attempts of an endpoint that has a thousand.
// newStore is called once per benchmark.
func BenchStore(b *testing.B, newStore func(tb testing.TB) webhook.Store) {
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	b.Run("AddAttempt", func(b *testing.B) {
		s := newStore(b)
		for i := 0; b.Loop(); i++ {
			if err := s.AddAttempt(ctx, attempt("shop", fmt.Sprint("msg_", i), 1, at, 200)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RenewLease", func(b *testing.B) {
		s := newStore(b)
		for b.Loop() {
			if ok, err := s.AcquireLease(ctx, "shop", "instance-a", time.Minute); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("UpdateEndpoint", func(b *testing.B) {
		s := newStore(b)
		c, err := s.PutEndpoint(ctx, Config("shop"))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if c, err = s.PutEndpoint(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Revision", func(b *testing.B) {
		s := newStore(b)
		for b.Loop() {
			if _, err := s.Revision(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListAttempts100", func(b *testing.B) {
		s := newStore(b)
		for i := range 1000 {
			if err := s.AddAttempt(ctx, attempt("shop", fmt.Sprint("msg_", i), 1, at.Add(time.Duration(i)*time.Millisecond), 200)); err != nil {
				b.Fatal(err)
			}
		}
		q := webhook.AttemptQuery{Endpoint: "shop", Since: at.Add(500 * time.Millisecond), Limit: 100}
		for b.Loop() {
			if as, err := s.ListAttempts(ctx, q); err != nil || len(as) != 100 {
				b.Fatal(len(as), err)
			}
		}
	})
}
