package webhookstore_test

import (
	"context"
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// newStore returns a Store on a connection of its own, under a key prefix
// no other test uses.
func newStore(tb testing.TB) webhook.Store { return storeAt(tb, freshPrefix(tb)) }

// storeAt returns a Store on a connection of its own, under prefix.
func storeAt(tb testing.TB, prefix string) webhook.Store {
	s := webhookstore.NewStore(newClient(tb))
	s.Prefix = prefix
	return s
}

// TestStore runs the conformance suite of webhook stores against Redis.
func TestStore(t *testing.T) { webhooktest.RunStore(t, newStore) }

// TestDispatcher runs the Dispatcher suite on the store.
func TestDispatcher(t *testing.T) { webhooktest.RunDispatcher(t, newStore) }

// TestVolume checks queries that read several pages of a sorted set, and
// prunes that run the pruning script more than once.
func TestVolume(t *testing.T) { webhooktest.RunVolume(t, newStore) }

// go test -run '^$' -bench Store -benchtime 200x ./webhookstore
func BenchmarkStore(b *testing.B) { webhooktest.BenchStore(b, newStore) }

// TestInstances runs two Dispatchers as two processes, one dying
// mid-stream: each on its own connection, the Receiver's idempotency in
// the same Redis.
func TestInstances(t *testing.T) {
	webhooktest.RunInstances(t, func(tb testing.TB) webhooktest.Storage {
		prefix := freshPrefix(tb)
		return func() webhook.Store { return storeAt(tb, prefix) }
	}, func(tb testing.TB) webhook.IdempotencyStore {
		s := webhookstore.NewIdempotency(newClient(tb))
		s.Prefix = freshPrefix(tb)
		return s
	})
}

// TestSealed checks Store.Secrets: the secrets in Redis are sealed.
func TestSealed(t *testing.T) {
	webhooktest.RunSealed(t, func(tb testing.TB) webhooktest.SealedStorage {
		client, prefix := newClient(tb), freshPrefix(tb)
		return webhooktest.SealedStorage{
			Open: func(c *webhook.SecretCipher) webhook.Store {
				s := webhookstore.NewStore(client)
				s.Prefix, s.Secrets = prefix, c
				return s
			},
			AtRest: func(id string) []byte {
				config, err := client.HGet(context.Background(), prefix+"endpoint:"+id, "config").Bytes()
				require.NoError(tb, err)
				return config
			},
		}
	})
}
