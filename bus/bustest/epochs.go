package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CheckMetaOutlivesHistory checks that a topic's epoch and top outlive its
// messages, for a broker whose history expires by age: it publishes three
// messages on topic (which should be new), waits until gone reports them
// expired (polled every 10 ms, for up to a minute), then checks that
// "nothing new after the top" is still answered, an older cursor is refused
// with bus.ErrCursorExpired and the top, and offsets continue after it.
func CheckMetaOutlivesHistory(t *testing.T, b bus.Broker, topic string, gone func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var msgs []bus.Message
	for range 3 {
		m, err := b.Publish(ctx, topic, bus.Message{Data: []byte("x")})
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	for {
		ok, err := gone(ctx)
		require.NoError(t, err)
		if ok {
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
	p, _ := bus.ParseID(next.ID)
	q, _ := bus.ParseID(msgs[2].ID)
	assert.True(t, p.Follows(q), "offsets continue: %s after %s", next.ID, msgs[2].ID)
	assert.Equal(t, next.ID, Receive(t, sub, 1)[0].ID)
}

// CheckLostTopicNewEpoch checks what happens when a topic's storage is lost
// behind the broker's back (wipe deletes it: a flushed key, a deleted row, a
// purged subject): the next message, published through fresh (a broker on
// the same storage, b itself or an instance that never saw the topic),
// starts a new epoch at offset 1; a subscriber of b that was live on the
// old epoch ends with bus.ErrCursorExpired and the new top instead of
// waiting on a gap; and reading after an old cursor is refused. It returns
// the first message of the new epoch.
func CheckLostTopicNewEpoch(t *testing.T, b, fresh bus.Broker, topic string, wipe func(ctx context.Context)) bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old, err := b.Publish(ctx, topic, bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	live, err := b.Subscribe(ctx, topic, old.ID)
	require.NoError(t, err)
	defer live.Close()

	wipe(ctx)

	first, err := fresh.Publish(ctx, topic, bus.Message{Data: []byte("new")})
	require.NoError(t, err)
	p, _ := bus.ParseID(first.ID)
	q, _ := bus.ParseID(old.ID)
	assert.NotEqual(t, q.Epoch, p.Epoch, "a new epoch")
	assert.Equal(t, uint64(1), p.Offset)

	_, err = Drain(t, live)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "the live subscriber learns of the reset")
	top, _ := bus.TopOf(err)
	assert.Equal(t, first.ID, top)
	_, err = b.Read(ctx, topic, old.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	return first
}
