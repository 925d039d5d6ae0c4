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
