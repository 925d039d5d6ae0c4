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
	const topic = "expiring"
	bustest.CheckMetaOutlivesHistory(t, b, topic, func(ctx context.Context) (bool, error) {
		got, err := b.Read(ctx, topic, bus.Oldest, 0)
		return len(got) == 0, err
	})
}

// A topic whose rows were deleted by hand starts a new epoch: cursors of the
// old one are refused, and a live subscriber is told, not left waiting on a
// gap.
func TestDeletedTopicNewEpoch(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	const topic = "deleted"
	first := bustest.CheckLostTopicNewEpoch(t, b, b, topic, func(ctx context.Context) {
		_, err := testPool(t, url).Exec(ctx, fmt.Sprintf("DELETE FROM %stopics WHERE topic = $1", prefix), topic)
		require.NoError(t, err)
	})
	// The old message's row is gone with the new epoch.
	all, err := b.Read(context.Background(), topic, bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, first.ID, all[0].ID)
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
