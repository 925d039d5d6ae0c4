package redisbus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
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

// sentinelMaster is the name the sentinels monitor the primary under.
const sentinelMaster = "pushpull"

// redisSentinel is a Sentinel-managed Redis of the test's own: a primary,
// a replica and three sentinels (redis-server --sentinel, so the separate
// redis-sentinel program is not needed) on loopback ports, which promote
// the replica a second or two after the primary dies.
type redisSentinel struct {
	t         *testing.T
	server    string
	dir       string
	nodes     []*testnet.Proc // the primary and the replica, in either role
	sentinels []*testnet.Proc
}

func startRedisSentinel(t *testing.T) *redisSentinel {
	t.Helper()
	rs := &redisSentinel{t: t, server: testnet.Binary(t, "redis-server"), dir: t.TempDir()}
	ports := testnet.FreePorts(t, 5)
	primary := fmt.Sprintf("127.0.0.1:%d", ports[0])
	rs.nodes = append(rs.nodes,
		startRedisProc(t, ports[0], rs.server, rs.nodeArgs(ports[0], "")...),
		startRedisProc(t, ports[1], rs.server, rs.nodeArgs(ports[1], primary)...))
	for i, port := range ports[2:] {
		dir := filepath.Join(rs.dir, "sentinel"+strconv.Itoa(i))
		require.NoError(t, os.Mkdir(dir, 0o755))
		conf := filepath.Join(dir, "sentinel.conf") // rewritten by the sentinel
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil,
			"port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
				"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			port, dir, sentinelMaster, ports[0], sentinelMaster, sentinelMaster), 0o644))
		rs.sentinels = append(rs.sentinels, startRedisProc(t, port, rs.server, conf, "--sentinel", "--loglevel", "warning"))
	}
	rs.waitHealthy()
	return rs
}

// nodeArgs are the arguments of a data node, a replica of primary unless
// that is "".
func (rs *redisSentinel) nodeArgs(port int, primary string) []string {
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", rs.dir,
		"--dbfilename", "dump-" + strconv.Itoa(port) + ".rdb",
		"--save", "", "--appendonly", "no", "--loglevel", "warning"}
	if primary != "" {
		host, port, _ := net.SplitHostPort(primary)
		args = append(args, "--replicaof", host, port)
	}
	return args
}

func (rs *redisSentinel) sentinelAddrs() []string {
	var out []string
	for _, s := range rs.sentinels {
		out = append(out, s.Addr())
	}
	return out
}

// client returns a Sentinel-aware client closed when the test ends.
func (rs *redisSentinel) client(tb testing.TB) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sentinelMaster, SentinelAddrs: rs.sentinelAddrs()})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// primary returns the node every sentinel names as the primary, once they
// agree.
func (rs *redisSentinel) primary() (*testnet.Proc, error) {
	var addr string
	for _, s := range rs.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		hp, err := c.GetMasterAddrByName(ctx, sentinelMaster).Result()
		cancel()
		_ = c.Close()
		if err != nil {
			return nil, err
		}
		a := hp[0] + ":" + hp[1]
		if addr != "" && a != addr {
			return nil, fmt.Errorf("sentinels disagree: %s, %s", addr, a)
		}
		addr = a
	}
	for _, n := range rs.nodes {
		if n.Addr() == addr {
			return n, nil
		}
	}
	return nil, fmt.Errorf("unknown primary %s", addr)
}

// waitHealthy waits until both nodes run, the sentinels agree on the
// primary, and the other node replicates it.
func (rs *redisSentinel) waitHealthy() {
	rs.t.Helper()
	testnet.WaitFor(rs.t, time.Minute, func() error {
		p, err := rs.primary()
		if err != nil {
			return err
		}
		for _, n := range rs.nodes {
			if !n.Alive() {
				return fmt.Errorf("%s is down", n.Addr())
			}
			err := nodeInfo(n.Addr(), func(ctx context.Context, c *redis.Client) error {
				role, err := infoField(ctx, c, "replication", "role")
				if err != nil {
					return err
				}
				if n == p {
					if role != "master" {
						return fmt.Errorf("primary %s is a %s", n.Addr(), role)
					}
					return nil
				}
				port, _ := infoField(ctx, c, "replication", "master_port")
				link, _ := infoField(ctx, c, "replication", "master_link_status")
				if role != "slave" || port != strconv.Itoa(p.Port) || link != "up" {
					return fmt.Errorf("%s: %s of %s, link %s", n.Addr(), role, port, link)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}, "the Sentinel deployment did not become healthy")
}

func TestSentinelConformance(t *testing.T) {
	rs := startRedisSentinel(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		return &redisbus.Broker{Client: rs.client(tb), Prefix: fmt.Sprintf("conf%d:", prefixSeq.Add(1))}
	})
}

// The primary is killed twice while 6,000 messages are published; the
// sentinels promote the replica, and the killed node comes back as the
// new primary's replica before the second kill. Every message is
// delivered, or covered by a reset; publications that fail return errors.
func TestSentinelFailover(t *testing.T) {
	rs := startRedisSentinel(t)
	checkFailover(t, "Sentinel, primary killed", func(tb testing.TB) redis.UniversalClient { return rs.client(tb) }, func(killed *testnet.Proc) *testnet.Proc {
		if killed != nil { // it comes back as the replica of its successor
			var p *testnet.Proc
			testnet.WaitFor(t, time.Minute, func() (err error) {
				p, err = rs.primary()
				if err == nil && p == killed {
					err = fmt.Errorf("no failover yet")
				}
				return err
			}, "waiting for the failover")
			killed.Args = rs.nodeArgs(killed.Port, p.Addr())
			killed.Start()
			rs.waitHealthy()
		}
		p, err := rs.primary()
		require.NoError(t, err)
		return p
	})
}
