package fanout

import (
	"context"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// A Hub fans the messages of each topic out to the subscribers of this
// process. Set its fields before the first call and do not change them
// afterwards; Read is required. A Hub must not be copied after first use.
//
// The Hub keeps no history. It learns of new messages from one upstream
// feed per topic (Deliver) and of the topic's top from the broker (Resync),
// and a subscriber that is not exactly at the known top reads what it
// misses through Read, which proves continuity. So a message lost upstream
// (a dropped connection, a missed notification) is never skipped: the next
// message or resync after it sends the subscribers behind to the history.
type Hub struct {
	// Buffer is the capacity of each subscription's channel. Zero means
	// bus.DefaultBuffer.
	Buffer int
	// MaxLag is how far, in messages, a subscriber that stopped reading
	// may fall behind the top before it can be cut. Zero means half of
	// bus.DefaultHistorySize.
	MaxLag uint64
	// StallTimeout is how long a subscriber whose channel is full may take
	// nothing, while more than MaxLag behind, before it is cut with
	// bus.ErrSlowConsumer. Zero means bus.DefaultStallTimeout.
	StallTimeout time.Duration
	// Read returns up to limit messages of topic after the position, in
	// order and contiguous, or an error (a *bus.CursorError wrapping
	// bus.ErrCursorExpired when the position left the history). It is
	// called on the Hub's goroutines, with no lock held, and must return
	// soon after ctx is done. Required.
	Read func(ctx context.Context, topic string, after bus.Position, limit int) ([]bus.Message, error)
	// Idle, when set, is called with no lock held once the last
	// subscriber of a topic (or the last pending Acquire) is gone, with
	// the upstream handle that Acquire's setup returned for the topic.
	Idle func(topic string, up any)

	mu     sync.Mutex
	topics map[string]*Topic
	closed bool
	wg     sync.WaitGroup // catch-up goroutines
}

// catchUpBatch is how many messages a lagging subscriber reads at once.
const catchUpBatch = 256

func (h *Hub) buffer() int {
	if h.Buffer > 0 {
		return h.Buffer
	}
	return bus.DefaultBuffer
}

func (h *Hub) maxLag() uint64 {
	if h.MaxLag > 0 {
		return h.MaxLag
	}
	return uint64(max(bus.DefaultHistorySize/2, 1))
}

func (h *Hub) stallTimeout() time.Duration {
	if h.StallTimeout > 0 {
		return h.StallTimeout
	}
	return bus.DefaultStallTimeout
}

// A Topic is a topic of a Hub with subscribers or pending joins. It lives
// from the Acquire that creates it to the Unref of its last reference.
type Topic struct {
	name string
	refs int // subscribers and pending joins; guarded by Hub.mu
	up   any // the adapter's upstream handle; set once by the creator

	mu     sync.Mutex
	top    bus.Position // newest position known to exist
	known  bool
	subs   []*sub
	recent recent // the newest messages of the feed
	dead   bool   // the hub closed
}

// Name returns the name of the topic.
func (t *Topic) Name() string { return t.name }

// Upstream returns the handle that the setup function given to the Acquire
// that created t returned: the adapter's state for the topic's feed.
func (t *Topic) Upstream() any { return t.up }

// Acquire returns the topic called name and counts a pending join on it.
// A topic it creates gets its upstream handle from setup, called with the
// Hub locked: setup must not call the Hub, and must return at once (no
// network I/O, no waiting on a lock that is held across I/O), since every
// Acquire, Unref and Close waits for it. Every Acquire is balanced by
// a Join or an Unref. It fails with bus.ErrClosed after Close.
func (h *Hub) Acquire(name string, setup func(topic string) any) (*Topic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, bus.ErrClosed
	}
	if h.topics == nil {
		h.topics = make(map[string]*Topic)
	}
	t := h.topics[name]
	if t == nil {
		t = &Topic{name: name, up: setup(name)}
		h.topics[name] = t
	}
	t.refs++
	return t, nil
}

// Unref drops one reference to t, the pending join of an Acquire that will
// not Join, and tears the topic down (calling Idle) after the last.
func (h *Hub) Unref(t *Topic) {
	h.mu.Lock()
	t.refs--
	last := t.refs == 0
	if last && h.topics[t.name] == t {
		delete(h.topics, t.name)
	}
	h.mu.Unlock()
	if last && h.Idle != nil {
		h.Idle(t.name, t.up)
	}
}

// lookup returns the live topic called name, or nil.
func (h *Hub) lookup(name string) *Topic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[name]
}

// Each calls fn for every live topic, with no lock held.
func (h *Hub) Each(fn func(t *Topic)) {
	h.mu.Lock()
	ts := make([]*Topic, 0, len(h.topics))
	for _, t := range h.topics {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	for _, t := range ts {
		fn(t)
	}
}

// raiseLocked records that p exists. t.mu is held.
func (t *Topic) raiseLocked(p bus.Position) bool {
	if t.known && p.Epoch == t.top.Epoch && p.Offset <= t.top.Offset {
		return false
	}
	t.top, t.known = p, true
	return true
}

// Join adds a subscriber of t whose delivery starts after from, turning
// the pending reference taken by Acquire into the subscriber's. top is the
// topic's top as the broker gave it with from, read after the topic's feed
// was flowing. The subscription ends when ctx is done, when it is closed,
// when it is cut, or when the Hub closes. Join fails with bus.ErrClosed
// (dropping the reference) when the Hub closed meanwhile.
func (h *Hub) Join(ctx context.Context, t *Topic, from, top bus.Position) (bus.Subscription, error) {
	s := &sub{h: h, t: t, ch: make(chan bus.Message, h.buffer()), epoch: from.Epoch}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sent.Store(from.Offset)
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		s.cancel()
		h.Unref(t)
		return nil, bus.ErrClosed
	}
	// The broker's answer is at least as fresh as what the feed said.
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

// Deliver hands m, the message at position p that the upstream feed of
// the topic called name announced, to the topic's subscribers. It never
// waits for a subscriber: one whose channel is full, or that is not right
// before p, reads the history instead; one that stalled is cut with
// bus.ErrSlowConsumer. A topic without subscribers ignores it.
func (h *Hub) Deliver(name string, m bus.Message, p bus.Position) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	t.mu.Lock()
	t.raiseLocked(p)
	t.recent.add(p, m)
	now := time.Now()
	var cut []*sub
	for i := len(t.subs) - 1; i >= 0; i-- {
		s := t.subs[i]
		if s.state == stateLive {
			sent := s.sent.Load()
			switch {
			case p.Follows(bus.Position{Epoch: s.epoch, Offset: sent}):
				select {
				case s.ch <- m:
					s.epoch = p.Epoch // set already, or adopted after Origin
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
		h.Unref(t)
	}
}

// Resync records top, the topic's top as read from the broker, and sends
// the subscribers that have not reached it to the history. It is the
// backstop against announcements lost without an error.
func (h *Hub) Resync(t *Topic, top bus.Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.raiseLocked(top) {
		return
	}
	for i := len(t.subs) - 1; i >= 0; i-- {
		if s := t.subs[i]; s.state == stateLive && !reached(s.epoch, s.sent.Load(), top) {
			h.startCatchUp(t, s)
		}
	}
}

// stalledLocked reports whether the lagging subscriber s stopped reading:
// its channel stayed full and its position did not move for the stall
// timeout while it is more than maxLag behind. t.mu is held.
func (h *Hub) stalledLocked(t *Topic, s *sub, now time.Time) bool {
	sent := s.sent.Load()
	if sent != s.seenSent || len(s.ch) < cap(s.ch) {
		s.seenSent, s.seenAt = sent, now
		return false
	}
	// A catch-up read may have gone past the top the feed announced.
	return s.epoch == t.top.Epoch && sent < t.top.Offset && t.top.Offset-sent > h.maxLag() && now.Sub(s.seenAt) >= h.stallTimeout()
}

// startCatchUp switches s to reading the history. t.mu is held.
func (h *Hub) startCatchUp(t *Topic, s *sub) {
	s.state = stateLagging
	s.seenSent, s.seenAt = s.sent.Load(), time.Now()
	s.wg.Add(1)
	h.wg.Add(1)
	go s.catchUp()
}

// Close ends every subscription with bus.ErrClosed, makes later Acquire
// and Join calls fail with it, and waits for the Hub's goroutines. Idle is
// still called for each topic once its last reference is dropped.
func (h *Hub) Close() {
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
			h.Unref(t)
		}
	}
	h.wg.Wait()
}
