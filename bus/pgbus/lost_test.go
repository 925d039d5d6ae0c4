package pgbus_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendSilently appends a message to an existing topic the way
// pushpull_publish does, but sends no notification: a notification lost.
func appendSilently(t *testing.T, pool *pgxpool.Pool, prefix, topic string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	m := bus.Message{Data: data, Time: time.Now().Round(0)}
	var epoch string
	var off int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, fmt.Sprintf(`UPDATE %stopics SET top = top + 1 WHERE topic = $1 RETURNING epoch, top`, prefix), topic).Scan(&epoch, &off)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %smessages (topic, "offset", record) VALUES ($1, $2, $3)`, prefix), topic, off, bus.AppendRecord(nil, &m))
		return err
	})
	require.NoError(t, err)
	return bus.Position{Epoch: epoch, Offset: uint64(off)}.ID()
}

// A message whose notification was lost reaches subscribers through the
// periodic check.
func TestLostNotificationFoundByCheck(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	b.CheckInterval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := b.Publish(ctx, "quiet", bus.Message{Data: []byte("first")})
	require.NoError(t, err)
	sub, err := b.Subscribe(ctx, "quiet", first.ID)
	require.NoError(t, err)
	defer sub.Close()
	id := appendSilently(t, testPool(t, url), prefix, "quiet", []byte("silent"))
	got := bustest.Receive(t, sub, 1)[0]
	assert.Equal(t, id, got.ID)
	assert.Equal(t, "silent", string(got.Data))
}

// A message whose notification was lost while the listener's connection
// was down is found by the check that follows the reconnection, with no
// periodic check at all.
func TestLostNotificationFoundAfterReconnect(t *testing.T) {
	url := pgURL(t)
	prefix := freshPrefix(t, url)
	b := newBroker(t, url, prefix)
	defer b.Close()
	b.CheckInterval = time.Hour // only the reconnection can trigger a check
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := b.Publish(ctx, "dropped", bus.Message{Data: []byte("first")})
	require.NoError(t, err)
	sub, err := b.Subscribe(ctx, "dropped", first.ID)
	require.NoError(t, err)
	defer sub.Close()
	id := appendSilently(t, pool, prefix, "dropped", []byte("silent"))
	// Drop the listener's connection (the one that listens on the
	// broker's channel).
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE query = $1`, `LISTEN "`+prefix+`bus"`).Scan(&n))
	require.Equal(t, 1, n, "the listener's connection")
	assert.Equal(t, id, bustest.Receive(t, sub, 1)[0].ID)
}

// A message too large for a notification's payload is read from the table.
func TestLargeMessage(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := b.Subscribe(ctx, "big", "")
	require.NoError(t, err)
	defer sub.Close()
	small, err := b.Publish(ctx, "big", bus.Message{Data: []byte("small")})
	require.NoError(t, err)
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	big, err := b.Publish(ctx, "big", bus.Message{Type: "big", Data: data, Meta: map[string]string{"k": "v"}})
	require.NoError(t, err)
	got := bustest.Receive(t, sub, 2)
	assert.Equal(t, small.ID, got[0].ID)
	assert.Equal(t, big.ID, got[1].ID)
	assert.Equal(t, data, got[1].Data)
	assert.Equal(t, "v", got[1].Meta["k"])
}

// Brokers of different prefixes on one database share nothing.
func TestPrefixesIsolated(t *testing.T) {
	url := pgURL(t)
	a, c := newBroker(t, url, freshPrefix(t, url)), newBroker(t, url, freshPrefix(t, url))
	defer a.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subC, err := c.Subscribe(ctx, "same", "")
	require.NoError(t, err)
	defer subC.Close()
	_, err = a.Publish(ctx, "same", bus.Message{Data: []byte("a")})
	require.NoError(t, err)
	mc, err := c.Publish(ctx, "same", bus.Message{Data: []byte("c")})
	require.NoError(t, err)
	assert.Equal(t, mc.ID, bustest.Receive(t, subC, 1)[0].ID)
	top, err := c.Top(ctx, "same")
	require.NoError(t, err)
	assert.Equal(t, mc.ID, top)
}
