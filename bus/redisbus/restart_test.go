package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
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

// consumer follows a topic the way a transport's client does: it resumes
// after the last ID it received when a subscription ends, and when told its
// cursor expired it records a reset and continues after the new top.
type consumer struct {
	mu     sync.Mutex
	got    []bus.Message
	resets []reset
	last   string
}

type reset struct{ cursor, top string }

func (c *consumer) run(ctx context.Context, b bus.Broker, topic, after string) {
	last := after
	for ctx.Err() == nil {
		sub, err := b.Subscribe(ctx, topic, last)
		if err != nil {
			if top, ok := bus.TopOf(err); ok && errors.Is(err, bus.ErrCursorExpired) {
				c.mu.Lock()
				c.resets = append(c.resets, reset{cursor: last, top: top})
				c.mu.Unlock()
				last = top
				continue
			}
			time.Sleep(20 * time.Millisecond) // Redis is down: retry
			continue
		}
		for m := range sub.C() {
			c.mu.Lock()
			c.got = append(c.got, m)
			c.last = m.ID
			c.mu.Unlock()
			last = m.ID
		}
		_ = sub.Close()
	}
}

func (c *consumer) lastID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// covered reports whether a message the consumer did not receive was
// reported through a reset: it follows the cursor of a reset in the same
// epoch, or precedes the top the reset handed over.
func (c *consumer) covered(id string) bool {
	p, _ := bus.ParseID(id)
	for _, r := range c.resets {
		cur, _ := bus.ParseID(r.cursor)
		top, _ := bus.ParseID(r.top)
		if p.After(cur) || (p.Epoch == top.Epoch && p.Offset <= top.Offset) {
			return true
		}
	}
	return false
}

// resetBetween reports whether the consumer went from q to p through resets.
func (c *consumer) resetBetween(q, p bus.Position) bool {
	at := q.ID()
	for _, r := range c.resets {
		if r.cursor != at {
			continue
		}
		top, _ := bus.ParseID(r.top)
		if p.Follows(top) {
			return true
		}
		at = r.top
	}
	return false
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, total = "restart", 10000
	start, err := sub.Top(ctx, topic)
	require.NoError(t, err)

	var c consumer
	consumerCtx, stopConsumer := context.WithCancel(ctx)
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		c.run(consumerCtx, sub, topic, start)
	}()
	defer func() {
		stopConsumer()
		<-consumerDone
	}()

	// Publish, retrying through the outage; disrupt Redis twice meanwhile.
	published := make([]bus.Message, 0, total)
	for i := range total {
		if i == total/3 || i == 2*total/3 {
			disrupt(r)
		}
		for {
			m, err := pub.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "m%d", i)})
			if err == nil {
				published = append(published, m)
				break
			}
			require.NoError(t, ctx.Err(), "publishing %d: %v", i, err)
			time.Sleep(10 * time.Millisecond)
		}
	}
	final := published[len(published)-1].ID
	for c.lastID() != final {
		require.NoError(t, ctx.Err(), "the consumer never reached %s (at %s)", final, c.lastID())
		time.Sleep(10 * time.Millisecond)
	}
	stopConsumer()
	<-consumerDone

	// Every published message was delivered, once, with its data, or was
	// reported through a reset.
	byID := make(map[string]bus.Message, len(c.got))
	for i, m := range c.got {
		_, dup := byID[m.ID]
		require.False(t, dup, "message %s delivered twice", m.ID)
		byID[m.ID] = m
		if i > 0 {
			p, _ := bus.ParseID(m.ID)
			q, _ := bus.ParseID(c.got[i-1].ID)
			require.True(t, p.Follows(q) || c.resetBetween(q, p), "gap between %s and %s", c.got[i-1].ID, m.ID)
		}
	}
	missed := 0
	for _, m := range published {
		got, ok := byID[m.ID]
		if ok {
			require.Equal(t, m.Data, got.Data, "data of %s", m.ID)
			continue
		}
		missed++
		require.True(t, c.covered(m.ID), "message %s (%s) lost without a reset", m.ID, m.Data)
	}
	if !resetsAllowed {
		require.Empty(t, c.resets, "no data was lost, yet cursors were reset")
	}
	t.Logf("%d published, %d delivered, %d covered by %d resets", len(published), len(c.got), missed, len(c.resets))
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
	require.Equal(t, first.ID, recv(t, s, 1)[0].ID)

	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	require.NoError(t, c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
	// Published while nobody listens: the notification is gone for good.
	lost, err := pub.Publish(ctx, "lost", bus.Message{Data: []byte("lost")})
	require.NoError(t, err)
	require.Equal(t, lost.ID, recv(t, s, 1)[0].ID)
}
