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
	kept, err := b.Publish(ctx, other, bus.Message{Data: []byte("kept")})
	require.NoError(t, err)

	// Another instance, which never cached the topic, starts the new epoch.
	b2 := newBroker(t, connect(t), stream, prefix)
	defer b2.Close()
	bustest.CheckLostTopicNewEpoch(t, b, b2, topic, func(ctx context.Context) {
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		s, err := js.Stream(ctx, stream)
		require.NoError(t, err)
		require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject(prefix+".t.purged~dtopic")))
	})
	got, err := b.Read(ctx, other, bus.Oldest, 0)
	require.NoError(t, err)
	assert.Equal(t, []bus.Message{kept}, got)
}
