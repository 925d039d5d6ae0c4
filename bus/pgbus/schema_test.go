package pgbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidatePrefix(t *testing.T) {
	for _, ok := range []string{"a", "_", "pushpull_", "app2_", strings.Repeat("x", pgbus.MaxPrefixLen)} {
		assert.NoError(t, pgbus.ValidatePrefix(ok), ok)
	}
	for _, bad := range []string{"", "2a", "A", "a-b", "a b", "a;drop", `a"`, "ä", strings.Repeat("x", pgbus.MaxPrefixLen+1)} {
		assert.Error(t, pgbus.ValidatePrefix(bad), bad)
	}
}

// A broker with an invalid prefix refuses every call with a clear error.
func TestInvalidPrefixBroker(t *testing.T) {
	b := &pgbus.Broker{Pool: &pgxpool.Pool{}, Prefix: "Bad-Prefix"}
	ctx := context.Background()
	_, err := b.Publish(ctx, "t", bus.Message{})
	require.ErrorContains(t, err, "prefix")
	_, err = b.Subscribe(ctx, "t", "")
	require.ErrorContains(t, err, "prefix")
	_, err = b.Read(ctx, "t", "", 0)
	require.ErrorContains(t, err, "prefix")
	require.NoError(t, b.Close())
}

// Migrate is idempotent and safe to run concurrently.
func TestMigrateTwiceConcurrently(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- pgbus.Migrate(ctx, pool, prefix) }()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

// Messages older than HistoryTTL leave the history from its start, and a
// cursor before them expires; the top stays.
func TestExpireByAge(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	b.HistoryTTL = time.Second
	b.RetentionInterval = -1 // only the explicit Expire below
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old, err := b.Publish(ctx, "aging", bus.Message{Data: []byte("old")})
	require.NoError(t, err)
	_, err = b.Publish(ctx, "aging", bus.Message{Data: []byte("old too")})
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // older than HistoryTTL by the database's clock
	fresh, err := b.Publish(ctx, "aging", bus.Message{Data: []byte("fresh")})
	require.NoError(t, err)
	n, err := b.Expire(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	msgs, err := b.Read(ctx, "aging", bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, fresh.ID, msgs[0].ID)
	_, err = b.Read(ctx, "aging", old.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	top, err := b.Top(ctx, "aging")
	require.NoError(t, err)
	assert.Equal(t, fresh.ID, top)
}

// A topic whose history is empty and whose last publication is older than
// HistoryTTL plus MetaTTL is removed; publishing again starts a new epoch,
// and old cursors expire.
func TestExpireIdleTopic(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	b.HistoryTTL, b.MetaTTL, b.RetentionInterval = 500*time.Millisecond, 500*time.Millisecond, -1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := b.Publish(ctx, "idle", bus.Message{})
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond)
	_, err = b.Expire(ctx) // the message
	require.NoError(t, err)
	_, err = b.Expire(ctx) // the topic, now empty
	require.NoError(t, err)
	top, err := b.Top(ctx, "idle")
	require.NoError(t, err)
	assert.Equal(t, bus.Origin, top)
	again, err := b.Publish(ctx, "idle", bus.Message{})
	require.NoError(t, err)
	p, q := mustPos(t, first), mustPos(t, again)
	assert.NotEqual(t, p.Epoch, q.Epoch)
	assert.Equal(t, uint64(1), q.Offset)
	_, err = b.Read(ctx, "idle", first.ID, 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
}

func mustPos(t *testing.T, m bus.Message) bus.Position {
	t.Helper()
	p, err := m.Position()
	require.NoError(t, err)
	return p
}

// The retention job runs on its own and stops with Close.
func TestRetentionJobRuns(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	b.HistoryTTL, b.RetentionInterval = 200*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := b.Publish(ctx, "job", bus.Message{})
	require.NoError(t, err)
	for {
		msgs, err := b.Read(ctx, "job", bus.Oldest, 0)
		require.NoError(t, err)
		if len(msgs) == 0 {
			break
		}
		require.NoError(t, ctx.Err(), "the job never removed the message")
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, b.Close())
}
