package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/require"
)

// natsCluster is a three-node JetStream cluster of the test's own, the
// nodes routed to each other on loopback ports.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

// natsNode is a nats-server of the cluster.
type natsNode struct {
	*testnet.Proc
	name string
}

func (n *natsNode) url() string { return "nats://" + n.Addr() }

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	server := testnet.Binary(t, "nats-server")
	ports := testnet.FreePorts(t, 6) // client and route ports
	var routes []string
	for _, p := range ports[3:] {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	dir := t.TempDir()
	nc := &natsCluster{t: t}
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		conf := filepath.Join(dir, name+".conf")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `
server_name: %s
listen: "127.0.0.1:%d"
max_payload: 8MB
jetstream { store_dir: %q, max_memory_store: 512MB, max_file_store: 2GB }
cluster { name: pushpull, listen: "127.0.0.1:%d", routes: [%s] }
`, name, ports[i], filepath.Join(dir, name), ports[3+i], strings.Join(routes, ", ")), 0o644))
		nc.nodes = append(nc.nodes, &natsNode{name: name,
			Proc: testnet.StartProc(t, &testnet.Proc{Path: server, Args: []string{"-c", conf}, Port: ports[i]})})
	}
	// The cluster is ready once it places a stream on three servers.
	conn := nc.connect(t)
	js, err := jetstream.New(conn)
	require.NoError(t, err)
	testnet.WaitFor(t, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Replicas: 3, Storage: jetstream.MemoryStorage}); err != nil {
			return err
		}
		return js.DeleteStream(ctx, "PROBE")
	}, "the JetStream cluster did not become ready")
	return nc
}

// connect returns a connection to any node, closed when the test ends.
func (nc *natsCluster) connect(tb testing.TB) *nats.Conn {
	var urls []string
	for _, n := range nc.nodes {
		urls = append(urls, n.url())
	}
	conn, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(tb, err)
	tb.Cleanup(conn.Close)
	return conn
}

// leader returns the node leading the stream, once its replicas are all
// current.
func (nc *natsCluster) leader(js jetstream.JetStream, stream string) *natsNode {
	nc.t.Helper()
	var found *natsNode
	testnet.WaitFor(nc.t, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return errors.New("no leader")
		}
		if len(ci.Replicas) != 2 {
			return fmt.Errorf("%d followers", len(ci.Replicas))
		}
		for _, r := range ci.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("follower %s is not current", r.Name)
			}
		}
		for _, n := range nc.nodes {
			if n.name == ci.Leader {
				found = n
				return nil
			}
		}
		return fmt.Errorf("unknown leader %s", ci.Leader)
	}, "waiting for the leader of %s", stream)
	return found
}

func TestClusterConformance(t *testing.T) {
	nc := startNATSCluster(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		stream, prefix := freshStream(tb)
		return &natsbus.Broker{Conn: nc.connect(tb), Stream: stream, Prefix: prefix, Replicas: 3}
	})
}

// The leader of an R3 stream is killed twice while 6,000 messages are
// published; a follower takes over, and the killed node restarts and
// catches up before the second kill. A publication is acknowledged only
// once a majority stored it, and reads go to the leader, so every message
// is delivered, none twice, and no cursor is reset.
func TestClusterLeaderKilled(t *testing.T) {
	nc := startNATSCluster(t)
	stream, prefix := freshStream(t)
	mk := func() *natsbus.Broker {
		return &natsbus.Broker{Conn: nc.connect(t), Stream: stream, Prefix: prefix, Replicas: 3,
			HistorySize: 20000, CheckInterval: time.Second, RequestTimeout: time.Second}
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	js, err := jetstream.New(nc.connect(t))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = pub.Top(ctx, "failover") // creates the stream
	require.NoError(t, err)

	clock := &bustest.Recovery{Pub: pub, Broker: sub}
	var killed *natsNode
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  clock,
		Subscriber: clock,
		Topic:      "failover",
		Messages:   6000,
		Disrupt: func(int) {
			if killed != nil {
				killed.Start()
			}
			killed = nc.leader(js, stream)
			killed.Kill()
			clock.Failed()
		},
		Timeout: 3 * time.Minute,
	})
	clock.Report(t, "NATS R3 stream, leader killed")

	// Publications retried through the elections were stored once: the
	// stream holds each message once, in order.
	var all []bus.Message
	for after := bus.Oldest; ; {
		page, err := sub.Read(ctx, "failover", after, 500)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	require.Len(t, all, 6000)
	for i, m := range all {
		require.Equal(t, fmt.Sprintf("m%d", i), string(m.Data))
	}
}
