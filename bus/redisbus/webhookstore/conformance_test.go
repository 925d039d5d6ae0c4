package webhookstore_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
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
