package webhookstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus/pgbus/internal/pgtest"
	"github.com/pushpull/pushpull/bus/pgbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
)

// TestStore runs the conformance suite of webhook stores against
// PostgreSQL, each test on tables of its own.
func TestStore(t *testing.T) {
	webhooktest.RunStore(t, func(tb testing.TB) webhook.Store {
		a, _, prefix := setup(tb)
		return &webhookstore.Store{Pool: a, Prefix: prefix}
	})
}

// TestDispatch runs Dispatchers on the store end to end: failover between
// two instances and recovery, each instance on its own pool, the
// Receiver's idempotency in the same database.
func TestDispatch(t *testing.T) {
	webhooktest.RunDispatch(t, func(tb testing.TB) webhooktest.Storage {
		url := pgtest.URL(tb)
		prefix := pgtest.Prefix(tb, url, webhookstore.Migrate)
		return func() webhook.Store {
			pool, err := pgxpool.New(context.Background(), url)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(pool.Close)
			return &webhookstore.Store{Pool: pool, Prefix: prefix}
		}
	}, func(tb testing.TB) webhook.IdempotencyStore {
		a, _, prefix := setup(tb)
		return &webhookstore.Idempotency{Pool: a, Prefix: prefix}
	})
}

// go test -run '^$' -bench Store -benchtime 200x ./webhookstore
func BenchmarkStore(b *testing.B) {
	webhooktest.BenchStore(b, func(tb testing.TB) webhook.Store {
		a, _, prefix := setup(tb)
		return &webhookstore.Store{Pool: a, Prefix: prefix}
	})
}

// TestVolume checks queries and prunes past a thousand rows.
func TestVolume(t *testing.T) {
	webhooktest.RunVolume(t, func(tb testing.TB) webhook.Store {
		a, _, prefix := setup(tb)
		return &webhookstore.Store{Pool: a, Prefix: prefix}
	})
}
