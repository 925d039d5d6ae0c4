package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "expiring"
	var msgs []bus.Message
	for range 3 {
		m, err := b.Publish(ctx, topic, bus.Message{Data: []byte("x")})
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	opt, _ := redis.ParseURL(url)
	rc := redis.NewClient(opt)
	defer rc.Close()
	for rc.Exists(ctx, prefix+"{"+topic+"}:stream").Val() == 1 {
		require.NoError(t, ctx.Err(), "the history never expired")
		time.Sleep(10 * time.Millisecond)
	}
	top, err := b.Top(ctx, topic)
	require.NoError(t, err)
	assert.Equal(t, msgs[2].ID, top)
	got, err := b.Read(ctx, topic, msgs[2].ID, 0)
	require.NoError(t, err, "nothing new after the top")
	assert.Empty(t, got)
	_, err = b.Subscribe(ctx, topic, msgs[0].ID)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	gotTop, _ := bus.TopOf(err)
	assert.Equal(t, msgs[2].ID, gotTop)

	sub, err := b.Subscribe(ctx, topic, msgs[2].ID)
	require.NoError(t, err)
	defer sub.Close()
	next, err := b.Publish(ctx, topic, bus.Message{Data: []byte("next")})
	require.NoError(t, err)
	p, _ := bus.ParseID(next.ID)
	q, _ := bus.ParseID(msgs[2].ID)
	assert.True(t, p.Follows(q), "offsets continue: %s after %s", next.ID, msgs[2].ID)
	assert.Equal(t, next.ID, bustest.Receive(t, sub, 1)[0].ID)
}

// A topic whose keys were flushed starts a new epoch: cursors of the old one
// are refused, and a live subscriber is told, not left waiting on a gap.
func TestFlushedTopicNewEpoch(t *testing.T) {
	url := redisURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "flushed"
	old, err := b.Publish(ctx, topic, bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	live, err := b.Subscribe(ctx, topic, old.ID)
	require.NoError(t, err)
	defer live.Close()

	opt, _ := redis.ParseURL(url)
	rc := redis.NewClient(opt)
	defer rc.Close()
	require.NoError(t, rc.Del(ctx, prefix+"{"+topic+"}:meta", prefix+"{"+topic+"}:stream").Err())

	fresh, err := b.Publish(ctx, topic, bus.Message{Data: []byte("new")})
	require.NoError(t, err)
	p, _ := bus.ParseID(fresh.ID)
	q, _ := bus.ParseID(old.ID)
	assert.NotEqual(t, q.Epoch, p.Epoch, "a new epoch")
	assert.Equal(t, uint64(1), p.Offset)

	_, err = bustest.Drain(t, live)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "the live subscriber learns of the reset")
	top, _ := bus.TopOf(err)
	assert.Equal(t, fresh.ID, top)
	_, err = b.Read(ctx, topic, old.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
}
