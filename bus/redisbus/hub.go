package redisbus

import (
	"context"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// A hub fans the messages of each topic out to the subscribers of this
// process, with the rules of bus.Memory: delivery never waits for a
// subscriber; one whose channel is full reads the shared history on a
// goroutine of its own until it has caught up; one that stops reading is cut
// with bus.ErrSlowConsumer while its position is still retained.
//
// The hub keeps no history. It learns of new messages from one upstream feed
// per topic (deliver) and of the topic's top from the server (resync), and a
// subscriber that is not exactly at the known top reads what it misses from
// the server through read, which proves continuity. So a message lost
// upstream (a dropped connection, a missed notification) is never skipped:
// the next message or resync after it sends the subscribers behind to the
// history.
type hub struct {
	buffer int
	maxLag uint64
	stall  time.Duration
	// read returns up to limit messages after a position, contiguous, or
	// an error (a *bus.CursorError when the position left the history).
	read func(ctx context.Context, topic string, after bus.Position, limit int) ([]bus.Message, error)
	// idle is called, with no lock held, when the last subscriber of a
	// topic (or the last pending Subscribe) is gone.
	idle func(topic string, up any)

	mu     sync.Mutex
	topics map[string]*hubTopic
	closed bool
	wg     sync.WaitGroup // catch-up goroutines
}

// catchUpBatch is how many messages a lagging subscriber reads at once.
const catchUpBatch = 256

type hubTopic struct {
	name string
	refs int // subscribers and pending joins; guarded by hub.mu
	up   any // the adapter's upstream state; set once by the creator

	mu     sync.Mutex
	top    bus.Position // newest position known to exist
	known  bool
	subs   []*hubSub
	recent recent // the newest messages of the feed
	dead   bool   // the hub closed
}

// acquire returns the topic called name and counts a pending join. A topic
// it creates gets its upstream from setup, called with the hub locked.
// Every acquire is balanced by a join or an unref.
func (h *hub) acquire(name string, setup func(topic string) any) (*hubTopic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, bus.ErrClosed
	}
	if h.topics == nil {
		h.topics = make(map[string]*hubTopic)
	}
	t := h.topics[name]
	if t == nil {
		t = &hubTopic{name: name, up: setup(name)}
		h.topics[name] = t
	}
	t.refs++
	return t, nil
}

// unref drops one reference to t and tears the topic down after the last.
func (h *hub) unref(t *hubTopic) {
	h.mu.Lock()
	t.refs--
	last := t.refs == 0
	if last && h.topics[t.name] == t {
		delete(h.topics, t.name)
	}
	h.mu.Unlock()
	if last && h.idle != nil {
		h.idle(t.name, t.up)
	}
}

// lookup returns the live topic called name, or nil.
func (h *hub) lookup(name string) *hubTopic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[name]
}

// each calls fn for every topic.
func (h *hub) each(fn func(t *hubTopic)) {
	h.mu.Lock()
	ts := make([]*hubTopic, 0, len(h.topics))
	for _, t := range h.topics {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	for _, t := range ts {
		fn(t)
	}
}

// raiseLocked records that p exists. t.mu is held.
func (t *hubTopic) raiseLocked(p bus.Position) bool {
	if t.known && p.Epoch == t.top.Epoch && p.Offset <= t.top.Offset {
		return false
	}
	t.top, t.known = p, true
	return true
}

// join adds a subscriber of t whose delivery starts after from, turning the
// pending reference taken by acquire into the subscriber's. top is the
// topic's top as the server gave it with from.
func (h *hub) join(ctx context.Context, t *hubTopic, from, top bus.Position) (*hubSub, error) {
	s := &hubSub{h: h, t: t, ch: make(chan bus.Message, h.buffer), epoch: from.Epoch}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sent.Store(from.Offset)
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		s.cancel()
		h.unref(t)
		return nil, bus.ErrClosed
	}
	// The server's answer is at least as fresh as what the feed said.
	t.raiseLocked(top)
	s.idx = len(t.subs)
	t.subs = append(t.subs, s)
	if from != t.top {
		h.startCatchUp(t, s)
	}
	if ctx.Done() != nil {
		s.stop = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	}
	t.mu.Unlock()
	return s, nil
}

// deliver hands a message of the upstream feed, at position p, to the
// topic's subscribers.
func (h *hub) deliver(name string, m bus.Message, p bus.Position) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	t.mu.Lock()
	t.raiseLocked(p)
	t.recent.add(p, m)
	now := time.Now()
	var cut []*hubSub
	for i := len(t.subs) - 1; i >= 0; i-- {
		s := t.subs[i]
		if s.state == stateLive {
			sent := s.sent.Load()
			switch {
			case s.epoch == p.Epoch && p.Offset == sent+1:
				select {
				case s.ch <- m:
					s.sent.Store(p.Offset)
				default:
					h.startCatchUp(t, s)
				}
			case s.epoch == p.Epoch && p.Offset <= sent:
				// Already delivered (from the history).
			default:
				h.startCatchUp(t, s) // a gap, or a new epoch
			}
			continue
		}
		if h.stalledLocked(t, s, now) {
			t.endLocked(s, bus.ErrSlowConsumer)
			cut = append(cut, s)
		}
	}
	t.mu.Unlock()
	for range cut {
		h.unref(t)
	}
}

// resync records the topic's top as read from the server, and sends the
// subscribers that have not reached it to the history.
func (h *hub) resync(t *hubTopic, top bus.Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.raiseLocked(top) {
		return
	}
	for i := len(t.subs) - 1; i >= 0; i-- {
		if s := t.subs[i]; s.state == stateLive && (s.epoch != top.Epoch || s.sent.Load() != top.Offset) {
			h.startCatchUp(t, s)
		}
	}
}

// stalledLocked reports whether the lagging subscriber s stopped reading:
// its channel stayed full and its position did not move for the stall
// timeout while it is more than maxLag behind. t.mu is held.
func (h *hub) stalledLocked(t *hubTopic, s *hubSub, now time.Time) bool {
	sent := s.sent.Load()
	if sent != s.seenSent || len(s.ch) < cap(s.ch) {
		s.seenSent, s.seenAt = sent, now
		return false
	}
	return s.epoch == t.top.Epoch && t.top.Offset-sent > h.maxLag && now.Sub(s.seenAt) >= h.stall
}

// startCatchUp switches s to reading the history. t.mu is held.
func (h *hub) startCatchUp(t *hubTopic, s *hubSub) {
	s.state = stateLagging
	s.seenSent, s.seenAt = s.sent.Load(), time.Now()
	s.wg.Add(1)
	h.wg.Add(1)
	go s.catchUp()
}

// close ends every subscription with bus.ErrClosed and waits for the
// catch-up goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	topics := h.topics
	h.topics = nil
	h.mu.Unlock()
	for _, t := range topics {
		t.mu.Lock()
		t.dead = true
		n := len(t.subs)
		for i := n - 1; i >= 0; i-- {
			t.endLocked(t.subs[i], bus.ErrClosed)
		}
		t.mu.Unlock()
		for range n {
			h.unref(t)
		}
	}
	h.wg.Wait()
}
