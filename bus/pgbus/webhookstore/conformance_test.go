package webhookstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus/pgbus/internal/pgtest"
	"github.com/pushpull/pushpull/bus/pgbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
	"github.com/stretchr/testify/require"
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

// TestSealed checks Store.Secrets: the secrets in the table are sealed.
func TestSealed(t *testing.T) {
	webhooktest.RunSealed(t, func(tb testing.TB) webhooktest.SealedStorage {
		pool, _, prefix := setup(tb)
		return webhooktest.SealedStorage{
			Open: func(c *webhook.SecretCipher) webhook.Store {
				return &webhookstore.Store{Pool: pool, Prefix: prefix, Secrets: c}
			},
			AtRest: func(id string) []byte {
				var config []byte
				err := pool.QueryRow(context.Background(), "SELECT config FROM "+prefix+"webhook_endpoints WHERE id = $1", id).Scan(&config)
				require.NoError(tb, err)
				return config
			},
		}
	})
}
