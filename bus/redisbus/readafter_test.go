package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A lagging subscriber's read on a topic whose keys are gone is told a
// valid top to start again from: the topic's new epoch at offset 0.
func TestReadAfterUnknownTopicTop(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old, err := b.Publish(ctx, "gone", bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	oldPos, err := bus.ParseID(old.ID)
	require.NoError(t, err)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.NoError(t, c.Del(ctx, prefix+"{gone}:meta", prefix+"{gone}:stream").Err())

	for _, tc := range []struct{ name, topic string }{
		{"keys deleted", "gone"},
		{"never published", "never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.ReadAfter(ctx, tc.topic, oldPos, 10)
			require.ErrorIs(t, err, bus.ErrCursorExpired)
			top, ok := bus.TopOf(err)
			require.True(t, ok)
			p, err := bus.ParseID(top)
			require.NoError(t, err, "top %q", top)
			assert.NotEqual(t, oldPos.Epoch, p.Epoch)
			assert.Equal(t, uint64(0), p.Offset)
		})
	}
}
