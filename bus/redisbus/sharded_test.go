package redisbus_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// subscribers counts, over the live nodes, the shard-channel and the plain
// subscribers of channel.
func (rc *redisCluster) subscribers(channel string) (sharded, plain int64) {
	rc.t.Helper()
	for _, n := range rc.nodes {
		if !n.Alive() {
			continue
		}
		require.NoError(rc.t, nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
			s, err := c.PubSubShardNumSub(ctx, channel).Result()
			if err != nil {
				return err
			}
			p, err := c.PubSubNumSub(ctx, channel).Result()
			sharded += s[channel]
			plain += p[channel]
			return err
		}))
	}
	return sharded, plain
}

// On a Redis 7 Cluster a subscription is a shard-channel subscription on
// the primary owning the topic's slot, and publications reach it; a
// broker told to use plain PUB/SUB subscribes with SUBSCRIBE instead.
func TestClusterSharded(t *testing.T) {
	rc := startRedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			prefix := fmt.Sprintf("shard%d:", prefixSeq.Add(1))
			b := &redisbus.Broker{Client: rc.client(t), Prefix: prefix}
			if plain {
				redisbus.Plain(b)
			}
			defer b.Close()
			sub, err := b.Subscribe(ctx, "news", "")
			require.NoError(t, err)
			defer sub.Close()
			channel := prefix + "{news}"
			owner := rc.primaryOf(channel)
			sharded, plainSubs := rc.subscribers(channel)
			if plain {
				require.Equal(t, [2]int64{0, 1}, [2]int64{sharded, plainSubs}, "shard and plain subscribers")
			} else {
				require.Equal(t, [2]int64{1, 0}, [2]int64{sharded, plainSubs}, "shard and plain subscribers")
				require.NoError(t, nodeInfo(owner.Addr(), func(ctx context.Context, c *redis.Client) error {
					n, err := c.PubSubShardNumSub(ctx, channel).Result()
					require.Equal(t, int64(1), n[channel], "shard subscribers on the owning primary %s", owner.Addr())
					return err
				}))
			}
			sent, err := b.Publish(ctx, "news", bus.Message{Data: []byte("hello")})
			require.NoError(t, err)
			select {
			case got := <-sub.C():
				require.Equal(t, sent.ID, got.ID)
				require.Equal(t, "hello", string(got.Data))
			case <-ctx.Done():
				t.Fatal("the publication did not arrive")
			}
			sub.Close()
			testnet.WaitFor(t, 30*time.Second, func() error {
				if s, p := rc.subscribers(channel); s+p != 0 {
					return fmt.Errorf("%d shard and %d plain subscribers left", s, p)
				}
				return nil
			}, "the broker did not unsubscribe %s", channel)
		})
	}
}

// The slot computed for a link is the one Redis computes.
func TestClusterSlot(t *testing.T) {
	rc := startRedisCluster(t)
	keys := []string{"", "a", "pushpull:{news}", "p:{a}b}", "p:{}x", "p:{", "}{x}", "{{y}}", "héllo{é}"}
	require.NoError(t, nodeInfo(rc.nodes[0].Addr(), func(ctx context.Context, c *redis.Client) error {
		for _, k := range keys {
			want, err := c.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				return err
			}
			require.Equal(t, want, int64(redisbus.Slot(k)), "slot of %q", k)
		}
		return nil
	}))
}

// nodeID returns the cluster node ID of n.
func nodeID(t testing.TB, n *testnet.Proc) string {
	var id string
	require.NoError(t, nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
		var err error
		id, err = c.Do(ctx, "CLUSTER", "MYID").Text()
		return err
	}))
	return id
}

// migrate moves slot, with its keys, from the primary src to the primary
// dst, as redis-cli --cluster reshard does.
func (rc *redisCluster) migrate(slot int, src, dst *testnet.Proc) {
	t := rc.t
	t.Helper()
	srcID, dstID := nodeID(t, src), nodeID(t, dst)
	s := strconv.Itoa(slot)
	do := func(n *testnet.Proc, args ...any) {
		require.NoError(t, nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
			return c.Do(ctx, args...).Err()
		}), "%s: %v", n.Addr(), args)
	}
	do(dst, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID)
	do(src, "CLUSTER", "SETSLOT", s, "MIGRATING", dstID)
	var keys []string
	require.NoError(t, nodeInfo(src.Addr(), func(ctx context.Context, c *redis.Client) error {
		var err error
		keys, err = c.ClusterGetKeysInSlot(ctx, slot, 1000).Result()
		return err
	}))
	if len(keys) > 0 {
		args := []any{"MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		do(src, args...)
	}
	do(dst, "CLUSTER", "SETSLOT", s, "NODE", dstID)
	do(src, "CLUSTER", "SETSLOT", s, "NODE", dstID)
	for _, n := range rc.nodes {
		if n != src && n != dst && n.Alive() {
			_ = nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
				return c.Do(ctx, "CLUSTER", "SETSLOT", s, "NODE", dstID).Err()
			})
		}
	}
}

// The topic's slot is migrated to another primary twice while messages
// are published: the server unsubscribes the shard channel and the
// subscriber's link follows the slot. Every message is delivered or
// covered by a reset: the new primary has another replication ID, so the
// topic starts a new epoch there.
func TestClusterSlotMigration(t *testing.T) {
	rc := startRedisCluster(t)
	prefix := fmt.Sprintf("mig%d:", prefixSeq.Add(1))
	mk := func() *redisbus.Broker {
		return &redisbus.Broker{Client: rc.client(t), Prefix: prefix, HistorySize: 10000, CheckInterval: time.Second}
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	channel := prefix + "{moving}"
	slot := int(redisbus.Slot(channel))
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  pub,
		Subscriber: sub,
		Topic:      "moving",
		Messages:   3000,
		Disrupt: func(int) {
			src := rc.primaryOf(channel)
			var dst *testnet.Proc
			for _, n := range rc.nodes {
				if n != src && nodeRole(t, n) == "master" {
					dst = n
					break
				}
			}
			require.NotNil(t, dst, "no other primary")
			rc.migrate(slot, src, dst)
			// The subscriber's link moves with the slot.
			testnet.WaitFor(t, 30*time.Second, func() error {
				var n int64
				err := nodeInfo(dst.Addr(), func(ctx context.Context, c *redis.Client) error {
					m, err := c.PubSubShardNumSub(ctx, channel).Result()
					n = m[channel]
					return err
				})
				if err == nil && n != 1 {
					err = fmt.Errorf("%d shard subscribers on %s", n, dst.Addr())
				}
				return err
			}, "the subscription did not follow slot %d", slot)
		},
		Lossy:   true,
		Timeout: 3 * time.Minute,
	})
}

// nodeRole is "master" or "slave".
func nodeRole(t testing.TB, n *testnet.Proc) string {
	var role string
	require.NoError(t, nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
		var err error
		role, err = infoField(ctx, c, "replication", "role")
		role = strings.TrimSpace(role)
		return err
	}))
	return role
}

// Publications on a six-node cluster, from parallel publishers over 64
// topics each followed by one subscriber of the process, with plain and
// sharded PUB/SUB in turn (run it several times to interleave them). Plain
// PUBLISH is forwarded to every node of the cluster; SPUBLISH stays in
// the shard owning the topic. Besides the time per publication, the
// benchmark reports the cluster-bus messages the nodes received for it
// (busmsgs/op) and the CPU time the six redis-server processes spent
// (server-µs/op), which a noisy machine disturbs less.
func BenchmarkClusterPublish(b *testing.B) {
	rc := startRedisCluster(b)
	for _, plain := range []bool{true, false} {
		b.Run(fmt.Sprintf("plain=%v", plain), func(b *testing.B) {
			br := &redisbus.Broker{Client: rc.client(b), Prefix: fmt.Sprintf("bench%d:", prefixSeq.Add(1)), HistorySize: 1000}
			if plain {
				redisbus.Plain(br)
			}
			defer br.Close()
			ctx := context.Background()
			topics := make([]string, 64)
			for i := range topics {
				topics[i] = "t" + strconv.Itoa(i)
				sub, err := br.Subscribe(ctx, topics[i], "")
				require.NoError(b, err)
				defer sub.Close()
				go func() {
					for range sub.C() {
					}
				}()
			}
			data := make([]byte, 64)
			var next atomic.Int64
			b.SetParallelism(8) // 8 publishers per CPU
			msgs, cpu := rc.load(b)
			b.ResetTimer()
			defer func() {
				b.StopTimer()
				msgs2, cpu2 := rc.load(b)
				b.ReportMetric(float64(msgs2-msgs)/float64(b.N), "busmsgs/op")
				b.ReportMetric(float64((cpu2-cpu).Microseconds())/float64(b.N), "server-µs/op")
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					topic := topics[next.Add(1)%int64(len(topics))]
					if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// load returns the PUBLISH and SPUBLISH messages the nodes received over
// the cluster bus, and the CPU time the node processes used, so far.
func (rc *redisCluster) load(tb testing.TB) (msgs int64, cpu time.Duration) {
	for _, n := range rc.nodes {
		require.NoError(tb, nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
			info, err := c.ClusterInfo(ctx).Result()
			for line := range strings.Lines(info) {
				k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
				if k == "cluster_stats_messages_publish_received" || k == "cluster_stats_messages_publishshard_received" {
					i, _ := strconv.ParseInt(v, 10, 64)
					msgs += i
				}
			}
			return err
		}))
		cpu += procCPU(tb, n)
	}
	return msgs, cpu
}
