package redisbus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/redisbus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// privateRedis is a redis-server of the test's own on a free loopback port,
// so it can be restarted and its clients killed without disturbing anyone.
type privateRedis struct {
	t    *testing.T
	path string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("redis-server not found: %v", err)
		}
		t.Skipf("redis-server not found (install it to run this test): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &privateRedis{t: t, path: path, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d", r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.path, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	require.NoError(r.t, r.cmd.Start())
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		require.Less(r.t, i, 100, "redis-server did not start: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// killClients drops every client connection, as a network failure would.
func (r *privateRedis) killClients() {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	for _, typ := range []string{"pubsub", "normal"} {
		require.NoError(r.t, c.Do(context.Background(), "CLIENT", "KILL", "TYPE", typ, "SKIPME", "yes").Err())
	}
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disrupt func(r *privateRedis)
		resets  bool // the disruption loses data: resets are allowed
	}{
		{"KillConnections", func(r *privateRedis) { r.killClients() }, false},
		{"RestartServer", func(r *privateRedis) { r.stop(); r.start() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testRestart(t, tc.disrupt, tc.resets) })
	}
}

func testRestart(t *testing.T, disrupt func(r *privateRedis), resetsAllowed bool) {
	r := startPrivateRedis(t)
	mk := func() *redisbus.Broker {
		b, err := redisbus.New(r.url())
		require.NoError(t, err)
		b.HistorySize = 20000
		b.CheckInterval = time.Second
		return b
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  pub,
		Subscriber: sub,
		Topic:      "restart",
		Messages:   10000,
		Disrupt:    func(int) { disrupt(r) },
		Lossy:      resetsAllowed,
	})
}

// A notification lost while the PUB/SUB connection is down, with nothing
// published after it, still arrives: the reconnection triggers a check.
func TestLostNotificationAfterReconnect(t *testing.T) {
	r := startPrivateRedis(t)
	mk := func() *redisbus.Broker {
		b, err := redisbus.New(r.url())
		require.NoError(t, err)
		b.CheckInterval = time.Hour // only the reconnection can trigger a check
		return b
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sub.Subscribe(ctx, "lost", "")
	require.NoError(t, err)
	defer s.Close()
	first, err := pub.Publish(ctx, "lost", bus.Message{Data: []byte("first")})
	require.NoError(t, err)
	require.Equal(t, first.ID, bustest.Receive(t, s, 1)[0].ID)

	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	require.NoError(t, c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
	// Published while nobody listens: the notification is gone for good.
	lost, err := pub.Publish(ctx, "lost", bus.Message{Data: []byte("lost")})
	require.NoError(t, err)
	require.Equal(t, lost.ID, bustest.Receive(t, s, 1)[0].ID)
}
