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

// privateRedis is a redis-server of the test's own on a free loopback port,
// so it can be restarted and its clients killed without disturbing anyone.
type privateRedis struct {
	*testnet.Proc
	t *testing.T
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	path := testnet.Binary(t, "redis-server")
	port := testnet.FreePorts(t, 1)[0]
	return &privateRedis{t: t, Proc: startRedisProc(t, port, path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")}
}

func (r *privateRedis) url() string { return "redis://" + r.Addr() }

// killClients drops every client connection, as a network failure would.
func (r *privateRedis) killClients() {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
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
		{"RestartServer", func(r *privateRedis) { r.Kill(); r.Start() }, true},
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

	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	require.NoError(t, c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
	// Published while nobody listens: the notification is gone for good.
	lost, err := pub.Publish(ctx, "lost", bus.Message{Data: []byte("lost")})
	require.NoError(t, err)
	require.Equal(t, lost.ID, bustest.Receive(t, s, 1)[0].ID)
}
