package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The epoch and top outlive the history: after the messages expired,
// "nothing new after the top" is still answered, older cursors are refused
// with the top, and offsets continue.
func TestMetaOutlivesHistory(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	b.HistoryTTL = 50 * time.Millisecond
	defer b.Close()
	opt, _ := redis.ParseURL(url)
	rc := redis.NewClient(opt)
	defer rc.Close()
	const topic = "expiring"
	bustest.CheckMetaOutlivesHistory(t, b, topic, func(ctx context.Context) (bool, error) {
		n, err := rc.Exists(ctx, prefix+"{"+topic+"}:stream").Result()
		return n == 0, err
	})
}

// A topic whose keys were flushed starts a new epoch: cursors of the old one
// are refused, and a live subscriber is told, not left waiting on a gap.
func TestFlushedTopicNewEpoch(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	opt, _ := redis.ParseURL(url)
	rc := redis.NewClient(opt)
	defer rc.Close()
	const topic = "flushed"
	bustest.CheckLostTopicNewEpoch(t, b, b, topic, func(ctx context.Context) {
		require.NoError(t, rc.Del(ctx, prefix+"{"+topic+"}:meta", prefix+"{"+topic+"}:stream").Err())
	})
}
