package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A publisher at full speed while the server kills the connection at random
// points: the client receives every message exactly once, in order.
func TestResumeThroughKills(t *testing.T) { modes(t, resumeThroughKills) }

func resumeThroughKills(t *testing.T, disableHijack bool) {
	t.Parallel()
	const n = 20000
	b := &bus.Memory{HistorySize: 2 * n}
	defer b.Close()
	srv := httptest.NewUnstartedServer(&Handler{Broker: b, Retry: time.Millisecond, DisableHijack: disableHijack})
	kl := &testnet.KillListener{Listener: srv.Listener, MaxBytes: 4096}
	srv.Listener = kl
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start, err := b.Top(ctx, "r")
	require.NoError(t, err)
	c := &Client{URL: srv.URL + "?topic={topic}", MaxBackoff: 10 * time.Millisecond}
	var sub bus.Subscription
	for sub == nil { // the first connection may be killed too
		sub, err = c.Subscribe(ctx, "r", start)
		var se *StatusError
		require.False(t, errors.As(err, &se), "%v", err)
	}
	defer sub.Close()

	published := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := b.Publish(ctx, "r", bus.Message{Type: "seq", Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()

	prev, err := bus.ParseID(start)
	require.NoError(t, err)
	for i := range n {
		m, ok := <-sub.C()
		require.True(t, ok, "subscription ended at %d: %v", i, sub.Err())
		p, err := m.Position()
		require.NoError(t, err)
		require.True(t, p.Follows(prev), "message %d: %s does not follow %s", i, m.ID, prev)
		require.Equal(t, fmt.Sprint(i), string(m.Data))
		require.Equal(t, "seq", m.Type)
		prev = p
	}
	require.NoError(t, <-published)
	kl.Disarm()
	assert.GreaterOrEqual(t, kl.Kills(), 100, "connections killed")
	t.Logf("%d messages through %d killed connections", n, kl.Kills())
}

// A cursor that left the history yields a reset, surfaced as
// bus.ErrCursorExpired with the top, from which the consumer carries on.
func TestResumeExpiredCursor(t *testing.T) { modes(t, resumeExpiredCursor) }

func resumeExpiredCursor(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 5}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, DisableHijack: disableHijack})
	c := NewClient(srv.URL + "/events/{topic}")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ms []bus.Message
	for i := range 10 {
		ms = append(ms, publish(t, b, "x", bus.Message{Data: fmt.Appendf(nil, "%d", i)})...)
	}
	sub, err := c.Subscribe(ctx, "x", ms[0].ID)
	require.NoError(t, err)
	_, open := <-sub.C()
	assert.False(t, open)
	require.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)
	top, ok := bus.TopOf(sub.Err())
	require.True(t, ok)
	assert.Equal(t, ms[9].ID, top)

	sub, err = c.Subscribe(ctx, "x", top)
	require.NoError(t, err)
	defer sub.Close()
	next := publish(t, b, "x", bus.Message{Data: []byte("10")})[0]
	m := <-sub.C()
	assert.Equal(t, next.ID, m.ID)
}

// One client that never reads does not delay the others, and is dropped.
func TestSlowConsumer(t *testing.T) { modes(t, slowConsumer) }

func slowConsumer(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	// WriteTimeout must outlast the good clients' reading on a loaded
	// machine, so that the stalled stream is still open when they finish.
	h := &Handler{Broker: b, WriteTimeout: 25 * time.Second, DisableHijack: disableHijack}
	srv := serve(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The stalled client: it sends its request and never reads.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	_, err = fmt.Fprintf(conn, "GET /events/s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	require.NoError(t, err)
	head, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, head, "200")

	const good, n = 3, 300
	c := NewClient(srv.URL + "/events/{topic}")
	var subs []bus.Subscription
	for range good {
		sub, err := c.Subscribe(ctx, "s", "")
		require.NoError(t, err)
		defer sub.Close()
		subs = append(subs, sub)
	}
	require.Eventually(t, func() bool { return h.Streams() == good+1 }, 10*time.Second, 10*time.Millisecond)

	payload := strings.Repeat("p", 32<<10)
	for i := range n {
		publish(t, b, "s", bus.Message{Data: []byte(fmt.Sprintf("%d %s", i, payload))})
	}
	done := make(chan error, good)
	for _, sub := range subs {
		go func() {
			for i := range n {
				m, ok := <-sub.C()
				if !ok || !strings.HasPrefix(string(m.Data), fmt.Sprintf("%d ", i)) {
					done <- fmt.Errorf("message %d missing (%v)", i, sub.Err())
					return
				}
			}
			done <- nil
		}()
	}
	for range good {
		require.NoError(t, <-done)
	}
	// The good clients got everything while the stalled stream was still
	// open: nobody waited for it.
	assert.Equal(t, good+1, h.Streams(), "the stalled stream is still blocked in its write")
	require.Eventually(t, func() bool { return h.Streams() == good }, time.Minute, 20*time.Millisecond,
		"the stalled client is dropped")
}

// Shutdown does not wait for a stream blocked writing to a client that
// stopped reading.
func TestShutdownCutsBlockedWrite(t *testing.T) { modes(t, shutdownCutsBlockedWrite) }

func shutdownCutsBlockedWrite(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, WriteTimeout: time.Hour, DisableHijack: disableHijack}
	srv := serve(t, h)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	_, err = fmt.Fprintf(conn, "GET /events/s HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return h.Streams() == 1 }, 10*time.Second, 10*time.Millisecond)
	payload := strings.Repeat("p", 32<<10)
	for range 300 { // far more than the socket buffers hold
		publish(t, b, "s", bus.Message{Data: []byte(payload)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx), "returns long before the hour-long write timeout")
	assert.Zero(t, h.Streams())
}
