package webhookstore_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
)

// TestStore runs the conformance suite of webhook stores against Redis,
// each test under a key prefix of its own.
func TestStore(t *testing.T) {
	webhooktest.RunStore(t, func(tb testing.TB) webhook.Store {
		s := webhookstore.NewStore(newClient(tb))
		s.Prefix = freshPrefix(tb)
		return s
	})
}

// TestDispatch runs Dispatchers on the store end to end: failover between
// two instances and recovery, each instance on its own connection, the
// Receiver's idempotency in the same Redis.
func TestDispatch(t *testing.T) {
	webhooktest.RunDispatch(t, func(tb testing.TB) webhooktest.Storage {
		prefix := freshPrefix(tb)
		return func() webhook.Store {
			s := webhookstore.NewStore(newClient(tb))
			s.Prefix = prefix
			return s
		}
	}, func(tb testing.TB) webhook.IdempotencyStore {
		s := webhookstore.NewIdempotency(newClient(tb))
		s.Prefix = freshPrefix(tb)
		return s
	})
}

// go test -run '^$' -bench Store -benchtime 200x ./webhookstore
func BenchmarkStore(b *testing.B) {
	webhooktest.BenchStore(b, func(tb testing.TB) webhook.Store {
		s := webhookstore.NewStore(newClient(tb))
		s.Prefix = freshPrefix(tb)
		return s
	})
}

// TestVolume checks queries that read several pages of a sorted set, and
// prunes that run the pruning script more than once.
func TestVolume(t *testing.T) {
	webhooktest.RunVolume(t, func(tb testing.TB) webhook.Store {
		s := webhookstore.NewStore(newClient(tb))
		s.Prefix = freshPrefix(tb)
		return s
	})
}
