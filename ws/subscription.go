package ws

import (
	"context"
	"fmt"
	"sync"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
)

// subscription is the Client's bus.Subscription of one topic.
type subscription struct {
	c     *Client
	topic string
	ch    chan bus.Message
	done  chan struct{}

	// Guarded by c.mu.
	ref     string // the ref of the first subscribe request
	op      *op    // that request, until acked
	sentGen uint64

	// Touched only by the Client's run goroutine (and before the
	// subscription is registered).
	cursor  string
	last    bus.Position
	hasLast bool

	sendMu   sync.Mutex // held while delivering; close(ch) takes it
	endOnce  sync.Once
	errMu    sync.Mutex
	err      error
	stopCtx  func() bool
	stopOnce sync.Mutex
}

func newSubscription(c *Client, topic, after string, buffer int) *subscription {
	if buffer <= 0 {
		buffer = DefaultClientBuffer
	}
	s := &subscription{c: c, topic: topic, ch: make(chan bus.Message, buffer), done: make(chan struct{})}
	s.setCursor(after)
	return s
}

func (s *subscription) setCursor(id string) {
	s.cursor = id
	p, err := bus.ParseID(id)
	s.last, s.hasLast = p, err == nil
}

func (s *subscription) C() <-chan bus.Message { return s.ch }

func (s *subscription) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *subscription) Close() error {
	s.end(nil, true)
	return nil
}

// watch ends the subscription when ctx is done.
func (s *subscription) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.end(ctx.Err(), true) })
	s.stopOnce.Lock()
	s.stopCtx = stop
	s.stopOnce.Unlock()
}

// deliver hands a message frame to the consumer, checking that it follows
// the previous one. A duplicate is dropped; a gap is an error that makes the
// Client reconnect and resume from the cursor.
func (s *subscription) deliver(ctx context.Context, e *envelope) error {
	pos, err := bus.ParseID(e.ID)
	if err != nil {
		return fmt.Errorf("ws: from server: message %w", err)
	}
	if s.hasLast {
		if pos.Epoch == s.last.Epoch && !pos.After(s.last) {
			return nil // already delivered
		}
		if !pos.Follows(s.last) {
			return fmt.Errorf("%w: topic %q: %s does not follow %s", ErrGap, s.topic, e.ID, s.last.ID())
		}
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	select {
	case <-s.done:
		return nil
	default:
	}
	select {
	case s.ch <- e.message():
		s.cursor, s.last, s.hasLast = e.ID, pos, true
	case <-s.done:
	case <-ctx.Done():
	}
	return nil
}

// end ends the subscription with err; unsubscribe tells the server.
func (s *subscription) end(err error, unsubscribe bool) {
	s.endOnce.Do(func() {
		s.errMu.Lock()
		s.err = err
		s.errMu.Unlock()
		close(s.done)
		c := s.c
		c.mu.Lock()
		var conn *websocket.Conn
		if c.subs[s.topic] == s {
			delete(c.subs, s.topic)
			conn = c.conn
		}
		c.mu.Unlock()
		if unsubscribe && conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout())
			_ = c.write(ctx, conn, encode(&envelope{Op: opUnsubscribe, Topic: s.topic}))
			cancel()
		}
		s.sendMu.Lock()
		close(s.ch)
		s.sendMu.Unlock()
		s.stopOnce.Lock()
		if s.stopCtx != nil {
			s.stopCtx()
		}
		s.stopOnce.Unlock()
	})
}
