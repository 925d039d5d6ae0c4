package ws

import (
	"context"
	"sync"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// subscription is the Client's bus.Subscription of one topic.
type subscription struct {
	c     *Client
	topic string
	ch    chan bus.Message
	done  chan struct{}

	// Guarded by c.mu.
	ref      string // the ref of the first subscribe request
	op       *op    // that request, until acked
	sentGen  uint64
	ackedGen uint64 // the connection generation whose subscribe the server acked

	// track checks that each message follows the previous one. Touched
	// only by the Client's run goroutine (and before the subscription is
	// registered).
	track *bus.Tracker

	sendMu   sync.Mutex // held while delivering; close(ch) takes it
	endOnce  sync.Once
	errMu    sync.Mutex
	err      error
	stopCtx  func() bool
	stopOnce sync.Mutex
}

func newSubscription(c *Client, topic string, track *bus.Tracker, buffer int) *subscription {
	if buffer <= 0 {
		buffer = DefaultClientBuffer
	}
	return &subscription{c: c, topic: topic, track: track, ch: make(chan bus.Message, buffer), done: make(chan struct{})}
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

// deliver hands a message frame to the consumer once the subscription's
// Tracker accepts it: a duplicate is dropped; a gap (an ID that does not
// follow the previous one) ends the subscription with the Tracker's
// *bus.CursorError, wrapping bus.ErrCursorExpired, as every client of this
// module reports one.
func (s *subscription) deliver(ctx context.Context, e *envelope) {
	next, err := s.track.Accept(e.ID)
	if err != nil {
		s.end(err, true)
		return
	}
	if !next {
		return // already delivered
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	m := e.message()
	select {
	case s.ch <- m:
		if rec := s.c.Metrics; rec != nil {
			rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: clientTransport, Topic: s.topic, N: 1, Bytes: int64(len(m.Data))})
		}
	case <-s.done:
	case <-ctx.Done():
	}
}

// acked records the cursor the server says the subscription starts after:
// the topic's top for a subscription to new messages only. The ack of
// bus.Oldest names no position. A cursor beyond the messages delivered is a
// gap and ends the subscription.
func (s *subscription) acked(id string) {
	if id == "" || id == bus.Oldest {
		return
	}
	if err := s.track.Reach(id); err != nil {
		s.end(err, true)
	}
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
