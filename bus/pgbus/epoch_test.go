package pgbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The epoch and top outlive the history: after the messages expired,
// "nothing new after the top" is still answered, older cursors are refused
// with the top, and offsets continue.
func TestMetaOutlivesHistory(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	b.HistoryTTL, b.RetentionInterval = 50*time.Millisecond, 20*time.Millisecond
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
	for {
		got, err := b.Read(ctx, topic, bus.Oldest, 0)
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
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
	p, q := mustPos(t, next), mustPos(t, msgs[2])
	assert.True(t, p.Follows(q), "offsets continue: %s after %s", next.ID, msgs[2].ID)
	assert.Equal(t, next.ID, bustest.Receive(t, sub, 1)[0].ID)
}

// A topic whose rows were deleted by hand starts a new epoch: cursors of the
// old one are refused, and a live subscriber is told, not left waiting on a
// gap.
func TestDeletedTopicNewEpoch(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "deleted"
	old, err := b.Publish(ctx, topic, bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	live, err := b.Subscribe(ctx, topic, old.ID)
	require.NoError(t, err)
	defer live.Close()
	_, err = testPool(t, url).Exec(ctx, fmt.Sprintf("DELETE FROM %stopics WHERE topic = $1", prefix), topic)
	require.NoError(t, err)
	fresh, err := b.Publish(ctx, topic, bus.Message{Data: []byte("new")})
	require.NoError(t, err)
	p, q := mustPos(t, fresh), mustPos(t, old)
	assert.NotEqual(t, q.Epoch, p.Epoch, "a new epoch")
	assert.Equal(t, uint64(1), p.Offset)
	// The old message's row is gone with the new epoch.
	all, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, fresh.ID, all[0].ID)
	_, err = b.Read(ctx, topic, old.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	msgs, err := bustest.Drain(t, live)
	assert.Empty(t, msgs)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
}

// Reading, asking for the top of and subscribing to topics that do not
// exist leaves no row behind.
func TestUnknownTopicsStoreNothing(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 5 {
		topic := fmt.Sprintf("ghost.%d", i)
		_, err := b.Read(ctx, topic, bus.Origin, 0)
		require.NoError(t, err)
		_, err = b.Top(ctx, topic)
		require.NoError(t, err)
		sub, err := b.Subscribe(ctx, topic, "")
		require.NoError(t, err)
		require.NoError(t, sub.Close())
	}
	var n int
	require.NoError(t, testPool(t, url).QueryRow(ctx, fmt.Sprintf("SELECT (SELECT count(*) FROM %[1]stopics) + (SELECT count(*) FROM %[1]smessages)", prefix)).Scan(&n))
	assert.Zero(t, n)
}
