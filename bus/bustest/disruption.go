package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/require"
)

// Disruption describes a run of CheckDisruption: a topic is published to
// through one broker and followed through another while the backend both
// use is disrupted.
type Disruption struct {
	// Publisher publishes the messages, retrying each until it succeeds.
	Publisher bus.Publisher
	// Subscriber is followed by a consumer that resumes after the last ID
	// it received whenever a subscription ends, and continues after the new
	// top when told its cursor expired.
	Subscriber bus.Broker
	// Topic is the topic used; it should be new.
	Topic string
	// Messages is how many messages are published; it must be at least 3.
	Messages int
	// Disrupt disrupts the backend (drops connections, restarts the
	// server). It is called on the test goroutine twice, before publishing
	// message Messages/3 and message 2*Messages/3 (i is that index).
	Disrupt func(i int)
	// Lossy says the disruption may lose data, so cursors may be reset.
	// When false, any reset fails the check.
	Lossy bool
	// Timeout bounds the whole run. Zero means two minutes.
	Timeout time.Duration
}

// CheckDisruption publishes d.Messages messages while d.Disrupt disrupts the
// backend twice, and checks what a consumer following the topic got: every
// message was delivered once, in order and with its data, or is covered by
// an explicit cursor reset (an error wrapping bus.ErrCursorExpired whose top
// the consumer resumed from); none is lost silently. Without d.Lossy no
// reset may happen at all. Both brokers are left open.
func CheckDisruption(t *testing.T, d Disruption) {
	t.Helper()
	require.GreaterOrEqual(t, d.Messages, 3, "Disruption.Messages")
	require.NotNil(t, d.Disrupt, "Disruption.Disrupt")
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start, err := d.Subscriber.Top(ctx, d.Topic)
	require.NoError(t, err)

	var c follower
	followCtx, stopFollowing := context.WithCancel(ctx)
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		c.run(followCtx, d.Subscriber, d.Topic, start)
	}()
	stop := func() {
		stopFollowing()
		<-followDone
	}
	defer stop()

	// Publish, retrying through the outage; disrupt the backend twice
	// meanwhile.
	published := make([]bus.Message, 0, d.Messages)
	for i := range d.Messages {
		if i == d.Messages/3 || i == 2*d.Messages/3 {
			d.Disrupt(i)
		}
		for {
			m, err := d.Publisher.Publish(ctx, d.Topic, bus.Message{Data: fmt.Appendf(nil, "m%d", i)})
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
	stop()

	// Every published message was delivered, once, with its data, or was
	// reported through a reset.
	byID := make(map[string]bus.Message, len(c.got))
	for i, m := range c.got {
		_, dup := byID[m.ID]
		require.False(t, dup, "message %s delivered twice", m.ID)
		byID[m.ID] = m
		if i > 0 {
			p, q := pos(t, m), pos(t, c.got[i-1])
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
	if !d.Lossy {
		require.Empty(t, c.resets, "no data was lost, yet cursors were reset")
	}
	t.Logf("%d published, %d delivered, %d covered by %d resets", len(published), len(c.got), missed, len(c.resets))
}

// follower follows a topic the way a transport's client does: it resumes
// after the last ID it received when a subscription ends, and when told its
// cursor expired it records a reset and continues after the new top.
type follower struct {
	mu     sync.Mutex
	got    []bus.Message
	resets []reset
	last   string
}

type reset struct{ cursor, top string }

func (c *follower) run(ctx context.Context, b bus.Broker, topic, after string) {
	last := after
	for ctx.Err() == nil {
		sub, err := b.Subscribe(ctx, topic, last)
		if err != nil {
			if top, ok := bus.TopOf(err); ok && errors.Is(err, bus.ErrCursorExpired) {
				c.mu.Lock()
				c.resets = append(c.resets, reset{cursor: last, top: top})
				c.last = top // a reset to the final message reaches it
				c.mu.Unlock()
				last = top
				continue
			}
			time.Sleep(20 * time.Millisecond) // the backend is down: retry
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

func (c *follower) lastID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// covered reports whether a message the consumer did not receive was
// reported through a reset: it follows the cursor of a reset in the same
// epoch, or precedes the top the reset handed over.
func (c *follower) covered(id string) bool {
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
func (c *follower) resetBetween(q, p bus.Position) bool {
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
