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

// newStore returns a Store on tables of its own.
func newStore(tb testing.TB) webhook.Store {
	a, _, prefix := setup(tb)
	return &webhookstore.Store{Pool: a, Prefix: prefix}
}

// TestStore runs the conformance suite of webhook stores against
// PostgreSQL.
func TestStore(t *testing.T) { webhooktest.RunStore(t, newStore) }

// TestDispatcher runs the Dispatcher suite on the store.
func TestDispatcher(t *testing.T) { webhooktest.RunDispatcher(t, newStore) }

// TestVolume checks queries and prunes past a thousand rows.
func TestVolume(t *testing.T) { webhooktest.RunVolume(t, newStore) }

// go test -run '^$' -bench Store -benchtime 200x ./webhookstore
func BenchmarkStore(b *testing.B) { webhooktest.BenchStore(b, newStore) }

// TestInstances runs two Dispatchers as two processes, one dying
// mid-stream: each on its own pool, the Receiver's idempotency in the
// same database.
func TestInstances(t *testing.T) {
	webhooktest.RunInstances(t, func(tb testing.TB) webhooktest.Storage {
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
