package ws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// catchUpBatch is how many history messages a subscription replays per
// broker read.
const catchUpBatch = 128

// connSub is one topic a connection subscribes to.
type connSub struct {
	c     *Conn
	hub   *hub
	topic string
	last  bus.Position // the last message queued; guarded by hub.mu once attached
	owed  bus.Position // the last message c published to topic, until queued; guarded by hub.mu
	idx   int          // index in hub.subs
}

// handle serves one envelope. It reports false for a malformed frame.
func (c *Conn) handle(ctx context.Context, p []byte) bool {
	e, err := decodeEnvelope(p)
	if err != nil {
		c.sendError(e.Ref, e.Topic, err)
		return false
	}
	switch e.Op {
	case opSubscribe:
		c.subscribe(ctx, &e)
	case opUnsubscribe:
		c.unsubscribe(&e)
	case opPublish:
		c.publish(ctx, &e)
	default:
		c.sendError(e.Ref, e.Topic, fmt.Errorf("%w: op %q is sent by servers only", errEnvelope, e.Op))
		return false
	}
	return true
}

func (c *Conn) sendError(ref, topic string, err error) {
	code := errorCode(err)
	if code == codeCursorExpired {
		if top, ok := bus.TopOf(err); ok {
			c.send(encode(&envelope{Op: opReset, Ref: ref, Topic: topic, Top: top, Message: err.Error()}))
			return
		}
	}
	msg := err.Error()
	if code == codeInternal {
		c.h.logger().Warn("ws: request failed", "topic", topic, "err", err)
		msg = "internal error"
	}
	c.send(encode(&envelope{Op: opError, Ref: ref, Topic: topic, Code: code, Message: msg}))
}

func (c *Conn) authorize(action Action, topic string) error {
	if c.h.Authorize == nil {
		return nil
	}
	if err := c.h.Authorize(c.req, action, topic); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrForbidden, action, topic, err)
	}
	return nil
}

func (c *Conn) subscribe(ctx context.Context, e *envelope) {
	if err := c.authorize(ActionSubscribe, e.Topic); err != nil {
		c.sendError(e.Ref, e.Topic, err)
		return
	}
	c.mu.Lock()
	switch {
	case c.subs[e.Topic] != nil:
		c.mu.Unlock()
		c.sendError(e.Ref, e.Topic, fmt.Errorf("%w: topic %q", ErrAlreadySubscribed, e.Topic))
		return
	case len(c.subs) >= c.h.maxSubscriptions():
		c.mu.Unlock()
		c.sendError(e.Ref, e.Topic, fmt.Errorf("%w: at most %d", ErrTooManySubscriptions, c.h.maxSubscriptions()))
		return
	}
	s := &connSub{c: c, topic: e.Topic}
	if c.subs == nil {
		c.subs = make(map[string]*connSub)
	}
	c.subs[e.Topic] = s
	c.mu.Unlock()

	err := c.attach(ctx, s, e)
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.subs[e.Topic] == s {
		delete(c.subs, e.Topic)
	}
	c.mu.Unlock()
	if s.hub != nil {
		s.hub.remove(s)
		c.h.releaseHub(s.hub)
	}
	if !errors.Is(err, errConnClosing) {
		c.sendError(e.Ref, e.Topic, err)
	}
}

var errConnClosing = errors.New("ws: connection closing")

// attach replays the history after the subscription's cursor, then joins
// the topic's live fan-out at the message that follows the last one
// replayed. The ack goes out before any message of the subscription.
func (c *Conn) attach(ctx context.Context, s *connSub, e *envelope) error {
	cursor := e.After
	if cursor == "" {
		top, err := c.h.Broker.Top(ctx, e.Topic)
		if err != nil {
			return err
		}
		cursor = top
	}
	hb, err := c.h.hub(ctx, e.Topic)
	if err != nil {
		return err
	}
	s.hub = hb
	ack := encode(&envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic, ID: cursor})
	acked, aheadChecked := false, false
	for {
		ok, ahead, err := hb.tryAttach(s, cursor, ack, acked, aheadChecked)
		if ok || err != nil {
			return err
		}
		if ahead {
			// Beyond what the fan-out has seen: either the fan-out lags
			// the broker for a moment, or the cursor is beyond the top
			// and must be refused, never silently skipped to.
			if err := c.checkAhead(ctx, e.Topic, cursor); err != nil {
				return err
			}
			aheadChecked = true
			continue
		}
		msgs, err := c.h.Broker.Read(ctx, e.Topic, cursor, catchUpBatch)
		if err != nil {
			return err
		}
		if !acked {
			c.send(ack)
			acked = true
		}
		if len(msgs) == 0 {
			return fmt.Errorf("ws: topic %q: the broker has nothing after %q but the fan-out is at %q", e.Topic, cursor, hb.lastID())
		}
		for _, m := range msgs {
			if !c.sendWait(ctx, encodeMessage(m)) {
				return errConnClosing
			}
		}
		cursor = msgs[len(msgs)-1].ID
	}
}

// checkAhead returns a *bus.CursorError wrapping bus.ErrCursorExpired when
// cursor is beyond the broker's top of topic.
func (c *Conn) checkAhead(ctx context.Context, topic, cursor string) error {
	top, err := c.h.Broker.Top(ctx, topic)
	if err != nil {
		return err
	}
	tp, err := bus.ParseID(top)
	if err != nil {
		return err
	}
	p, err := bus.ParseID(cursor)
	if err != nil {
		return err
	}
	if p.Epoch != tp.Epoch || p.After(tp) {
		return &bus.CursorError{Topic: topic, Cursor: cursor, Top: top, Err: bus.ErrCursorExpired}
	}
	return nil
}

func (c *Conn) unsubscribe(e *envelope) {
	c.mu.Lock()
	s := c.subs[e.Topic]
	delete(c.subs, e.Topic)
	c.mu.Unlock()
	if s != nil {
		s.hub.remove(s)
		c.h.releaseHub(s.hub)
	}
	if e.Ref != "" {
		c.send(encode(&envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic}))
	}
}

func (c *Conn) publish(ctx context.Context, e *envelope) {
	if err := c.authorize(ActionPublish, e.Topic); err != nil {
		c.sendError(e.Ref, e.Topic, err)
		return
	}
	m, err := c.h.Broker.Publish(ctx, e.Topic, bus.Message{Type: e.Type, Data: e.data(), Meta: e.Meta})
	if err != nil {
		c.sendError(e.Ref, e.Topic, err)
		return
	}
	c.owe(e.Topic, m.ID)
	ack := envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic, ID: m.ID}
	if !m.Time.IsZero() {
		ack.Time = m.Time.UTC().Format(time.RFC3339Nano)
	}
	c.send(encode(&ack))
}

// owe notes that the connection published id to topic. When it subscribes
// to topic, the message will also be queued on it by the fan-out; until
// then the reader counts it (and those before it) as queued, so that a
// client publishing to its own topics is slowed down by its own fan-out
// rather than overflowing its queue with it. Only the reader calls owe.
func (c *Conn) owe(topic, id string) {
	c.mu.Lock()
	s := c.subs[topic]
	c.mu.Unlock()
	if s == nil || s.hub == nil {
		return
	}
	pos, err := bus.ParseID(id)
	if err == nil && s.hub.owe(s, pos) && !slices.Contains(c.owing, s) {
		c.owing = append(c.owing, s)
	}
}

// debt returns how many messages of the connection's subscriptions the
// fan-out is yet to queue up to the last ones it published itself. Only
// the reader calls debt.
func (c *Conn) debt() int {
	total := 0
	keep := c.owing[:0]
	for _, s := range c.owing {
		if d := s.hub.debt(s); d > 0 {
			total += d
			keep = append(keep, s)
		}
	}
	clear(c.owing[len(keep):])
	c.owing = keep
	return total
}
