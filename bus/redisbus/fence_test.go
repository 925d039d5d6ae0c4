package redisbus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// A server whose replication ID is not the one that wrote a topic, as a
// promoted replica's is not, may miss acknowledged messages: its first
// publication starts a new epoch, so a subscriber and a cursor of the old
// one are reset instead of being served reused offsets.
func TestPromotedReplicaStartsNewEpoch(t *testing.T) {
	r := startPrivateRedis(t)
	b, err := redisbus.New(r.url())
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ids []string
	for _, d := range []string{"a", "b", "c"} {
		m, err := b.Publish(ctx, "fence", bus.Message{Data: []byte(d)})
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	sub, err := b.Subscribe(ctx, "fence", ids[2])
	require.NoError(t, err)
	defer sub.Close()

	// The promotion of a replica that missed "c": a new replication ID
	// (a replica pointed at a closed port keeps its data), and the data
	// one message behind.
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	closed := testnet.FreePorts(t, 1)[0]
	require.NoError(t, c.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(closed)).Err())
	require.NoError(t, c.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	require.NoError(t, c.HIncrBy(ctx, redisbus.DefaultPrefix+"{fence}:meta", "s", -1).Err())
	require.NoError(t, c.XDel(ctx, redisbus.DefaultPrefix+"{fence}:stream", "3-0").Err())
	require.NoError(t, c.Do(ctx, "XSETID", redisbus.DefaultPrefix+"{fence}:stream", "2-0").Err())

	d, err := b.Publish(ctx, "fence", bus.Message{Data: []byte("d")})
	require.NoError(t, err)
	old, _ := bus.ParseID(ids[2])
	now, _ := bus.ParseID(d.ID)
	require.NotEqual(t, old.Epoch, now.Epoch, "offset %d handed out again in the same epoch", now.Offset)

	got, err := bustest.Drain(t, sub)
	require.Empty(t, got)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	_, err = b.Read(ctx, "fence", ids[1], 0)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	top, ok := bus.TopOf(err)
	require.True(t, ok)
	require.Equal(t, d.ID, top)
	// What the server retains stays readable under the new epoch.
	all, err := b.Read(ctx, "fence", bus.Oldest, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "d"}, []string{string(all[0].Data), string(all[1].Data), string(all[2].Data)})
}
