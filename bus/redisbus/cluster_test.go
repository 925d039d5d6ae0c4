package redisbus_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisCluster is a Redis Cluster of the test's own: six redis-server
// processes on loopback ports, three primaries with a replica each, with a
// node timeout of one second so a killed primary is replaced in seconds.
type redisCluster struct {
	t     testing.TB
	nodes []*testnet.Proc
}

func startRedisCluster(t testing.TB) *redisCluster {
	t.Helper()
	server, cli := testnet.Binary(t, "redis-server"), testnet.Binary(t, "redis-cli")
	dir := t.TempDir()
	ports := testnet.FreePorts(t, 12) // client and cluster bus ports
	rc := &redisCluster{t: t}
	addrs := make([]string, 6)
	for i := range 6 {
		port, bus := strconv.Itoa(ports[i]), strconv.Itoa(ports[6+i])
		rc.nodes = append(rc.nodes, startRedisProc(t, ports[i], server,
			"--bind", "127.0.0.1", "--port", port, "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-port", bus,
			"--cluster-config-file", "nodes-"+port+".conf", "--cluster-node-timeout", "1000",
			"--save", "", "--appendonly", "no", "--loglevel", "warning"))
		addrs[i] = "127.0.0.1:" + port
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := exec.CommandContext(ctx, cli, append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "1", "--cluster-yes")...)
	out, err := create.CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	rc.waitHealthy()
	return rc
}

// addrs returns the addresses of the nodes.
func (rc *redisCluster) addrs() []string {
	var out []string
	for _, n := range rc.nodes {
		out = append(out, n.Addr())
	}
	return out
}

// client returns a cluster client closed when the test ends.
func (rc *redisCluster) client(tb testing.TB) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.addrs()})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// nodeInfo asks one node a question; it fails while the node is down.
func nodeInfo(addr string, f func(ctx context.Context, c *redis.Client) error) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return f(ctx, c)
}

// waitHealthy waits until every node runs, says the cluster is ok, and
// every replica is in sync with its primary.
func (rc *redisCluster) waitHealthy() {
	rc.t.Helper()
	testnet.WaitFor(rc.t, time.Minute, func() error {
		primaries := 0
		for _, n := range rc.nodes {
			if !n.Alive() {
				return fmt.Errorf("%s is down", n.Addr())
			}
			err := nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
				state, err := infoField(ctx, c, "cluster", "cluster_enabled")
				if err != nil || state != "1" {
					return fmt.Errorf("%s: not in cluster mode: %v", n.Addr(), err)
				}
				ci, err := c.ClusterInfo(ctx).Result()
				if err != nil {
					return err
				}
				if !strings.Contains(ci, "cluster_state:ok") || !strings.Contains(ci, "cluster_known_nodes:6") {
					return fmt.Errorf("%s: cluster not ready", n.Addr())
				}
				role, err := infoField(ctx, c, "replication", "role")
				if err != nil {
					return err
				}
				if role == "master" {
					primaries++
					return nil
				}
				if link, _ := infoField(ctx, c, "replication", "master_link_status"); link != "up" {
					return fmt.Errorf("%s: replica link %s", n.Addr(), link)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if primaries != 3 {
			return fmt.Errorf("%d primaries", primaries)
		}
		return nil
	}, "the Redis Cluster did not become healthy")
}

// primaryOf returns the node serving key's slot as primary.
func (rc *redisCluster) primaryOf(key string) *testnet.Proc {
	rc.t.Helper()
	var found *testnet.Proc
	testnet.WaitFor(rc.t, 30*time.Second, func() error {
		for _, n := range rc.nodes {
			if !n.Alive() {
				continue
			}
			err := nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
				slot, err := c.ClusterKeySlot(ctx, key).Result()
				if err != nil {
					return err
				}
				shards, err := c.ClusterShards(ctx).Result()
				if err != nil {
					return err
				}
				for _, sh := range shards {
					for _, r := range sh.Slots {
						if slot < r.Start || slot > r.End {
							continue
						}
						for _, sn := range sh.Nodes {
							for _, m := range rc.nodes {
								if sn.Role == "master" && sn.Health == "online" && int64(m.Port) == sn.Port && m.Alive() {
									found = m
									return nil
								}
							}
						}
					}
				}
				return fmt.Errorf("no live primary for slot %d", slot)
			})
			if err == nil {
				return nil
			}
		}
		return fmt.Errorf("no node answered")
	}, "finding the primary of %s", key)
	return found
}

func TestClusterConformance(t *testing.T) {
	rc := startRedisCluster(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		return &redisbus.Broker{Client: rc.client(tb), Prefix: fmt.Sprintf("conf%d:", prefixSeq.Add(1))}
	})
}

func TestClusterInstances(t *testing.T) {
	rc := startRedisCluster(t)
	bustest.RunInstances(t, func(tb testing.TB) (bus.Broker, bus.Broker) {
		prefix := fmt.Sprintf("inst%d:", prefixSeq.Add(1))
		return &redisbus.Broker{Client: rc.client(tb), Prefix: prefix}, &redisbus.Broker{Client: rc.client(tb), Prefix: prefix}
	})
}

// The primary holding the topic is killed twice while 6,000 messages are
// published; its replica takes over. Every message is delivered, or
// covered by a reset (replication is asynchronous, so the replica may
// miss acknowledged messages); publications that fail return errors.
func TestClusterFailover(t *testing.T) {
	rc := startRedisCluster(t)
	checkFailover(t, "Redis Cluster, primary killed", func(tb testing.TB) redis.UniversalClient { return rc.client(tb) }, func(killed *testnet.Proc) *testnet.Proc {
		if killed != nil { // it rejoins as the replica of its successor
			killed.Start()
			rc.waitHealthy()
		}
		return rc.primaryOf(redisbus.DefaultPrefix + "{failover}:meta")
	})
}

// checkFailover publishes 6,000 messages while the primary is killed twice,
// and checks that each is delivered or covered by a reset (replication is
// asynchronous, so the new primary may miss acknowledged messages).
// restart brings the node killed before back (nil the first time) and
// returns the primary to kill next.
func checkFailover(t *testing.T, what string, client func(testing.TB) redis.UniversalClient, restart func(killed *testnet.Proc) *testnet.Proc) {
	mk := func() *redisbus.Broker {
		return &redisbus.Broker{Client: client(t), HistorySize: 20000, CheckInterval: time.Second}
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	clock := &bustest.Recovery{Pub: pub, Broker: sub}
	var killed *testnet.Proc
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  clock,
		Subscriber: clock,
		Topic:      "failover",
		Messages:   6000,
		Disrupt: func(int) {
			killed = restart(killed)
			killed.Kill()
			clock.Failed()
		},
		Lossy:   true,
		Timeout: 3 * time.Minute,
	})
	clock.Report(t, what)
}
