package webhookstore_test

import (
	"testing"

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
