package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/stretchr/testify/require"
)

// privateNATS is an embedded server of the test's own, on a fixed loopback
// port and store, so it can be restarted under its clients.
type privateNATS struct {
	t    *testing.T
	port int
	dir  string
	srv  *server.Server
}

func startPrivateNATS(t *testing.T) *privateNATS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &privateNATS{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateNATS) start() {
	r.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: r.port, JetStream: true, StoreDir: r.dir,
		NoSigs: true, NoLog: true,
	})
	require.NoError(r.t, err)
	srv.Start()
	require.True(r.t, srv.ReadyForConnections(10*time.Second), "nats-server did not start")
	r.srv = srv
}

func (r *privateNATS) stop() {
	if r.srv == nil {
		return
	}
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
	r.srv = nil
}

func (r *privateNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.port) }

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

// The server restarts twice during a stream of 10,000 messages: every
// message is delivered, none twice, none lost silently.
func TestRestart(t *testing.T) {
	if os.Getenv("NATS_URL") != "" {
		t.Log("restarting an embedded server of the test's own, not NATS_URL")
	}
	r := startPrivateNATS(t)
	mk := func() *natsbus.Broker {
		nc, err := nats.Connect(r.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return &natsbus.Broker{Conn: nc, HistorySize: 20000, CheckInterval: time.Second}
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

	published := make([]bus.Message, 0, total)
	for i := range total {
		if i == total/3 || i == 2*total/3 {
			r.stop()
			r.start()
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
	for _, m := range published {
		got, ok := byID[m.ID]
		if ok {
			require.Equal(t, m.Data, got.Data, "data of %s", m.ID)
			continue
		}
		require.True(t, c.covered(m.ID), "message %s (%s) lost without a reset", m.ID, m.Data)
	}
	require.Empty(t, c.resets, "the stream survived, yet cursors were reset")
	t.Logf("%d published, %d delivered", len(published), len(c.got))
}
