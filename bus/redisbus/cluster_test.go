package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisCluster is a Redis Cluster of the test's own: six redis-server
// processes on loopback ports, three primaries with a replica each, with a
// node timeout of one second so a killed primary is replaced in seconds.
type redisCluster struct {
	t     testing.TB
	nodes []*proc
}

func startRedisCluster(t testing.TB) *redisCluster {
	t.Helper()
	server, cli := binary(t, "redis-server"), binary(t, "redis-cli")
	dir := t.TempDir()
	ports := freePorts(t, 12) // client and cluster bus ports
	rc := &redisCluster{t: t}
	addrs := make([]string, 6)
	for i := range 6 {
		port, bus := strconv.Itoa(ports[i]), strconv.Itoa(ports[6+i])
		rc.nodes = append(rc.nodes, startProc(t, ports[i], server,
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
		out = append(out, n.addr())
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
	waitFor(rc.t, time.Minute, func() error {
		primaries := 0
		for _, n := range rc.nodes {
			if !n.alive() {
				return fmt.Errorf("%s is down", n.addr())
			}
			err := nodeInfo(n.addr(), func(ctx context.Context, c *redis.Client) error {
				state, err := infoField(ctx, c, "cluster", "cluster_enabled")
				if err != nil || state != "1" {
					return fmt.Errorf("%s: not in cluster mode: %v", n.addr(), err)
				}
				ci, err := c.ClusterInfo(ctx).Result()
				if err != nil {
					return err
				}
				if !strings.Contains(ci, "cluster_state:ok") || !strings.Contains(ci, "cluster_known_nodes:6") {
					return fmt.Errorf("%s: cluster not ready", n.addr())
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
					return fmt.Errorf("%s: replica link %s", n.addr(), link)
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
func (rc *redisCluster) primaryOf(key string) *proc {
	rc.t.Helper()
	var found *proc
	waitFor(rc.t, 30*time.Second, func() error {
		for _, n := range rc.nodes {
			if !n.alive() {
				continue
			}
			err := nodeInfo(n.addr(), func(ctx context.Context, c *redis.Client) error {
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
								if sn.Role == "master" && sn.Health == "online" && int64(m.port) == sn.Port && m.alive() {
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

// recovery measures, for each outage, the time from the failure to the
// first publication that succeeds after it (through Publish) and to the
// first subscription the consumer gets back, or the reset it is told of
// (through Subscribe).
type recovery struct {
	Pub bus.Publisher
	bus.Broker

	mu       sync.Mutex
	failedAt time.Time
	pubDown  bool
	subDown  bool
	failures int
	pubTimes []time.Duration
	subTimes []time.Duration
}

func (r *recovery) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	got, err := r.Pub.Publish(ctx, topic, m)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
	} else if r.pubDown {
		r.pubDown = false
		r.pubTimes = append(r.pubTimes, time.Since(r.failedAt))
	}
	return got, err
}

func (r *recovery) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	s, err := r.Broker.Subscribe(ctx, topic, after)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subDown && (err == nil || errors.Is(err, bus.ErrCursorExpired)) {
		r.subDown = false
		r.subTimes = append(r.subTimes, time.Since(r.failedAt))
	}
	return s, err
}

// failed marks the start of an outage.
func (r *recovery) failed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failedAt, r.pubDown, r.subDown = time.Now(), true, true
}

func (r *recovery) report(t *testing.T, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("%s: publishing recovered after %v, the consumer after %v; %d failed publications returned errors",
		what, r.pubTimes, r.subTimes, r.failures)
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
	mk := func() *redisbus.Broker {
		return &redisbus.Broker{Client: rc.client(t), HistorySize: 20000, CheckInterval: time.Second}
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	clock := &recovery{Pub: pub, Broker: sub}
	var killed *proc
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  clock,
		Subscriber: clock,
		Topic:      "failover",
		Messages:   6000,
		Disrupt: func(int) {
			if killed != nil { // it rejoins as the replica of its successor
				killed.start()
				rc.waitHealthy()
			}
			killed = rc.primaryOf(redisbus.DefaultPrefix + "{failover}:meta")
			killed.kill()
			clock.failed()
		},
		Lossy:   true,
		Timeout: 3 * time.Minute,
	})
	clock.report(t, "Redis Cluster, primary killed")
}
