package webhook_test

import (
	"testing"

	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
)

func TestMemoryStore(t *testing.T) {
	webhooktest.RunStore(t, func(testing.TB) webhook.Store { return webhook.NewMemoryStore() })
}

func TestMemoryStoreDispatcher(t *testing.T) {
	webhooktest.RunDispatcher(t, func(testing.TB) webhook.Store { return webhook.NewMemoryStore() })
}
