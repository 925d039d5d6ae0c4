package webhooktest_test

import (
	"testing"

	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
)

// RunInstances on the memory store: every handle is the same store, as
// for instances of one process.
func TestInstancesMemory(t *testing.T) {
	webhooktest.RunInstances(t, func(testing.TB) webhooktest.Storage {
		s := webhook.NewMemoryStore()
		return func() webhook.Store { return s }
	}, nil)
}

func TestVolumeMemory(t *testing.T) {
	webhooktest.RunVolume(t, func(testing.TB) webhook.Store { return webhook.NewMemoryStore() })
}
