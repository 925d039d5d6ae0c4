package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A topic whose messages were purged starts a new epoch: cursors of the old
// one are refused, and a live subscriber is told, not left on a gap. Other
// topics of the stream are untouched.
func TestPurgedTopicNewEpoch(t *testing.T) {
	stream, prefix := freshStream(t)
	nc := connect(t)
	b := newBroker(t, nc, stream, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic, other = "purged.topic", "kept"
	old, err := b.Publish(ctx, topic, bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	kept, err := b.Publish(ctx, other, bus.Message{Data: []byte("kept")})
	require.NoError(t, err)
	live, err := b.Subscribe(ctx, topic, old.ID)
	require.NoError(t, err)
	defer live.Close()

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject(prefix+".t.purged~dtopic")))

	// Another instance, which never cached the topic, starts the new epoch.
	b2 := newBroker(t, connect(t), stream, prefix)
	defer b2.Close()
	fresh, err := b2.Publish(ctx, topic, bus.Message{Data: []byte("new")})
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
	got, err := b.Read(ctx, other, bus.Oldest, 0)
	require.NoError(t, err)
	assert.Equal(t, []bus.Message{kept}, got)
}
