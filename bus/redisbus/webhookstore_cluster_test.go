package redisbus_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/webhooktest"
)

// The webhook Store works on Redis Cluster when its Prefix has a hash tag,
// as its documentation says: the conformance suite passes on a cluster of
// three primaries, with every key of one store in one slot.
func TestWebhookStoreOnCluster(t *testing.T) {
	rc := startRedisCluster(t)
	var n atomic.Int64
	webhooktest.RunStore(t, func(tb testing.TB) webhook.Store {
		s := webhookstore.NewStore(rc.client(tb))
		s.Prefix = fmt.Sprintf("{webhooks-%d}:", n.Add(1)) // each test in a slot of its own
		return s
	})
}
