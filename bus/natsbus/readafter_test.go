package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A lagging subscriber's read on a topic without messages is told a valid
// top to start again from: the topic's new epoch at offset 0.
func TestReadAfterUnknownTopicTop(t *testing.T) {
	stream, prefix := freshStream(t)
	nc := connect(t)
	b := newBroker(t, nc, stream, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old, err := b.Publish(ctx, "purged", bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	oldPos, err := bus.ParseID(old.ID)
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject(prefix+".t.purged")))

	for _, tc := range []struct{ name, topic string }{
		{"purged", "purged"},
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
