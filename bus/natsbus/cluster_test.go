package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/stretchr/testify/require"
)

// natsNode is a nats-server process of the test's own, killed when the
// test ends.
type natsNode struct {
	t    *testing.T
	name string
	port int
	conf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsNode) Write(b []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.Write(b)
}

// start (re)starts the server and waits until it takes connections.
func (n *natsNode) start() {
	n.t.Helper()
	cmd := exec.Command("nats-server", "-c", n.conf)
	cmd.Stdout, cmd.Stderr = n, n
	require.NoError(n.t, cmd.Start())
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server %s did not start: %v", n.name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills the server (SIGKILL, as a crash) and waits for it to end.
func (n *natsNode) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// natsCluster is a three-node JetStream cluster of the test's own, the
// nodes routed to each other on loopback ports.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	if _, err := exec.LookPath("nats-server"); err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("nats-server not found: %v", err)
		}
		t.Skipf("nats-server not found (install it to run this test): %v", err)
	}
	ports := freePorts(t, 6) // client and route ports
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
		n := &natsNode{t: t, name: name, port: ports[i], conf: conf}
		t.Cleanup(func() {
			n.kill()
			if t.Failed() {
				n.mu.Lock()
				t.Logf("output of nats-server %s:\n%s", n.name, n.out.String())
				n.mu.Unlock()
			}
		})
		nc.nodes = append(nc.nodes, n)
	}
	for _, n := range nc.nodes {
		n.start()
	}
	// The cluster is ready once it places a stream on three servers.
	conn := nc.connect(t)
	js, err := jetstream.New(conn)
	require.NoError(t, err)
	waitUntil(t, time.Minute, func() error {
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
	waitUntil(nc.t, time.Minute, func() error {
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

// freePorts returns n loopback ports that were free a moment ago: all are
// held open together, so they differ.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// waitUntil calls f until it returns nil, failing the test with msg after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, f func() error, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", fmt.Sprintf(msg, args...), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterConformance(t *testing.T) {
	nc := startNATSCluster(t)
	bustest.Run(t, func(tb testing.TB) bus.Broker {
		stream, prefix := freshStream(tb)
		return &natsbus.Broker{Conn: nc.connect(tb), Stream: stream, Prefix: prefix, Replicas: 3}
	})
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

	clock := &recovery{Pub: pub, Broker: sub}
	var killed *natsNode
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  clock,
		Subscriber: clock,
		Topic:      "failover",
		Messages:   6000,
		Disrupt: func(int) {
			if killed != nil {
				killed.start()
			}
			killed = nc.leader(js, stream)
			killed.kill()
			clock.failed()
		},
		Timeout: 3 * time.Minute,
	})
	clock.report(t, "NATS R3 stream, leader killed")

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
