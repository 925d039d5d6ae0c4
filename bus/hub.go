package bus

import (
	"context"
	"sync"
	"time"

	"github.com/pushpull/pushpull/metrics"
)

// A Hub is the fan-out engine of a broker: it hands the messages of each
// topic to the subscribers of this process, and it is the one place where
// live delivery, catching up from the history and cutting stalled
// subscribers are implemented. Memory runs on a Hub, and so do the Redis and
// NATS adapters; a broker written elsewhere should too, so that it behaves
// like them (the bustest suite checks it).
//
// A broker keeps one Hub. Its Subscribe calls Acquire, which creates the
// topic's upstream handle through the broker's setup function the first
// time the topic is wanted in this process; the broker starts its feed of
// the topic's new messages, reads the topic's History, and calls Join with
// the position History.Start gives. Each message the feed announces goes
// to Deliver; once the last subscriber of a topic is gone the Hub calls
// Idle, so the broker can stop the feed. So a process holds one upstream
// per topic however many subscribers it has.
//
// Delivery follows the rules every broker promises (see Subscriber):
//
//   - Deliver never waits for a subscriber, so a slow reader never blocks
//     the feed or the publisher behind it.
//   - A subscriber whose channel is full, or that is not exactly at the
//     position before the announced message, is switched to catching up on
//     a goroutine of its own: from the Hub's buffer of the topic's newest
//     messages, then from the broker's history through Read, until it
//     reaches the known top and goes back to live delivery.
//   - A subscriber that stops reading (its channel stays full, its
//     position does not move and its consumer reports no Progress for
//     StallTimeout while it is more than MaxLag behind) is cut with
//     ErrSlowConsumer; with MaxLag well below the
//     history size its position is still retained then, so it can resume
//     from the last ID it read.
//   - The Hub never skips a message: when continuity cannot be proved (the
//     history no longer holds the next message, the broker has nothing
//     after a position it announced beyond, or the topic's epoch changed)
//     the subscriber ends with a *CursorError wrapping ErrCursorExpired
//     that carries the top.
//   - A subscription may start at Origin, the zero Position, of a topic
//     that has no epoch yet: the topic's first message, of whatever epoch,
//     follows it.
//
// The feed may lose announcements (a dropped connection, a missed
// notification): the next message delivered, or the broker's periodic
// Resync with the top read from its storage, sends every subscriber that
// is behind to the history.
//
// Subscriptions end, closing their channel, when the context given to Join
// is done (Err returns the context's error), when they are closed (nil),
// when they are cut, or when the Hub is closed (ErrClosed).
//
// With Metrics set, the Hub reports BusSubscribed and BusUnsubscribed for
// each subscription (with the reason it ended: a cut is ReasonSlow, an
// expired position ReasonExpired and also a BusCursorExpired with Op
// "stream"), BusDelivered once per Deliver and per catch-up batch, and
// BusCatchUp whenever a subscriber switches to the history, with how far
// behind it is. Events carry Name as their Transport. The Recorder is
// called with the topic's lock held (see metrics.Recorder).
//
// Set the fields before the first call and do not change them afterwards;
// Read is required. A Hub must not be copied after first use. All methods
// are safe for concurrent use. The Hub starts no goroutine of its own
// except the catch-up readers of lagging subscribers, and Close waits for
// them.
type Hub struct {
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// MaxLag is how far, in messages, a subscriber that stopped reading
	// may fall behind the top before it can be cut. Zero means half of
	// DefaultHistorySize.
	MaxLag int
	// StallTimeout is how long a subscriber whose channel is full may take
	// nothing, while more than MaxLag behind, before it is cut with
	// ErrSlowConsumer. Zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// Recent is how many of each topic's newest messages the Hub keeps, so
	// that a subscriber that fell a little behind catches up without a
	// Read. Zero means DefaultRecent; a negative value keeps none (for a
	// broker whose Read is as cheap as the buffer, like Memory's).
	Recent int
	// Read appends to dst up to limit messages of topic after the
	// position, in order and contiguous, and returns the extended slice,
	// or an error (a *CursorError wrapping
	// ErrCursorExpired when the position left the history). after may be
	// the zero Position (Origin): Read then returns the topic's messages
	// from offset 1 of its epoch, nothing when the topic has no message,
	// or the expired error once its first message left the history.
	// Read is called on the Hub's goroutines with no lock held, and must
	// return soon after ctx is done. Errors other than cursor errors are
	// retried a few times. Required.
	Read func(ctx context.Context, dst []Message, topic string, after Position, limit int) ([]Message, error)
	// ReadBatch is the limit of the Reads of a lagging subscriber: how
	// many messages it reads at once, and holds while its consumer takes
	// them. Zero means DefaultReadBatch, which suits a Read as cheap as
	// Memory's; a broker whose Read is a round trip to a server reads more
	// at once (the Redis, NATS and PostgreSQL brokers: 256).
	ReadBatch int
	// Idle, when set, is called with no lock held once the last
	// subscriber of a topic (or the last pending Acquire) is gone, with
	// the upstream handle that Acquire's setup returned for the topic.
	Idle func(topic string, up any)
	// Metrics, when set, receives the Hub's events (see above). Nil
	// reports nothing and costs nothing.
	Metrics metrics.Recorder
	// Name names the broker in the events reported to Metrics, e.g.
	// "memory", "redis". Empty means "bus".
	Name string

	mu     sync.Mutex
	topics map[string]*HubTopic
	closed bool
	wg     sync.WaitGroup // catch-up goroutines
}

// DefaultRecent is the default of Hub.Recent.
const DefaultRecent = 256

// DefaultReadBatch is the default of Hub.ReadBatch.
const DefaultReadBatch = catchUpBatch

// catchUpBatch is how many messages a lagging subscriber copies at once
// from the messages the Hub keeps (Recent). Its batch is held while it
// waits for its consumer, so under overload, when thousands of
// subscribers lag together, the batch is most of what a lagging
// subscriber costs in memory: 32 messages are 3.3 KiB (256 were 27 KiB),
// while a batch still keeps a consumer busy for a while.
const catchUpBatch = 32

func (h *Hub) readBatch() int {
	if h.ReadBatch > 0 {
		return h.ReadBatch
	}
	return DefaultReadBatch
}

func (h *Hub) buffer() int {
	if h.Buffer > 0 {
		return h.Buffer
	}
	return DefaultBuffer
}

func (h *Hub) maxLag() uint64 {
	if h.MaxLag > 0 {
		return uint64(h.MaxLag)
	}
	return uint64(max(DefaultHistorySize/2, 1))
}

func (h *Hub) stallTimeout() time.Duration {
	if h.StallTimeout > 0 {
		return h.StallTimeout
	}
	return DefaultStallTimeout
}

func (h *Hub) name() string {
	if h.Name != "" {
		return h.Name
	}
	return "bus"
}

func (h *Hub) recentMax() int {
	switch {
	case h.Recent > 0:
		return h.Recent
	case h.Recent < 0:
		return 0
	}
	return DefaultRecent
}

// A HubTopic is a topic of a Hub with subscribers or pending joins. It
// lives from the Acquire that creates it to the Release of its last
// reference.
type HubTopic struct {
	name string
	refs int // subscribers and pending joins; guarded by Hub.mu
	up   any // the broker's upstream handle; set once by the creator

	mu     sync.Mutex
	top    Position // newest position known to exist
	known  bool
	subs   []*hubSub
	recent recent // the newest messages of the feed
	dead   bool   // the hub closed
}

// Name returns the name of the topic.
func (t *HubTopic) Name() string { return t.name }

// Upstream returns the handle that the setup function given to the Acquire
// that created t returned: the broker's state for the topic's feed.
func (t *HubTopic) Upstream() any { return t.up }

// Acquire returns the topic called name and counts a pending join on it.
// A topic it creates gets its upstream handle from setup (which may be
// nil), called with the Hub locked: setup must not call the Hub, and must
// return at once (no network I/O, no waiting on a lock that is held across
// I/O), since every Acquire, Release and Close waits for it. Every Acquire
// is balanced by a Join or a Release. It fails with ErrClosed after Close.
func (h *Hub) Acquire(name string, setup func(topic string) any) (*HubTopic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.topics == nil {
		h.topics = make(map[string]*HubTopic)
	}
	t := h.topics[name]
	if t == nil {
		t = &HubTopic{name: name}
		if setup != nil {
			t.up = setup(name)
		}
		h.topics[name] = t
	}
	t.refs++
	return t, nil
}

// Release drops one reference to t, the pending join of an Acquire that
// will not Join, and tears the topic down (calling Idle) after the last.
func (h *Hub) Release(t *HubTopic) {
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

// Subscribed reports whether the topic called name has subscribers (or
// pending joins) in this Hub.
func (h *Hub) Subscribed(name string) bool {
	return h.lookup(name) != nil
}

// lookup returns the live topic called name, or nil.
func (h *Hub) lookup(name string) *HubTopic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[name]
}

// Each calls fn for every topic with subscribers, with no lock held.
func (h *Hub) Each(fn func(t *HubTopic)) {
	h.mu.Lock()
	ts := make([]*HubTopic, 0, len(h.topics))
	for _, t := range h.topics {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	for _, t := range ts {
		fn(t)
	}
}

// raiseLocked records that p exists. t.mu is held.
func (t *HubTopic) raiseLocked(p Position) bool {
	if t.known && p.Epoch == t.top.Epoch && p.Offset <= t.top.Offset {
		return false
	}
	t.top, t.known = p, true
	return true
}

// Join adds a subscriber of t whose delivery starts after from, turning
// the pending reference taken by Acquire into the subscriber's. top is the
// topic's top as the broker read it together with from, after the topic's
// feed was flowing (the zero Position for a topic with no message). The
// subscription ends when ctx is done, when it is closed, when it is cut,
// or when the Hub closes. Join fails with ErrClosed (dropping the
// reference) when the Hub closed meanwhile.
func (h *Hub) Join(ctx context.Context, t *HubTopic, from, top Position) (Subscription, error) {
	s := &hubSub{h: h, t: t, ch: make(chan Message, h.buffer()), epoch: from.Epoch}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sent.Store(from.Offset)
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		s.cancel()
		h.Release(t)
		return nil, ErrClosed
	}
	// The broker's answer is at least as fresh as what the feed said.
	t.raiseLocked(top)
	s.idx = len(t.subs)
	t.subs = append(t.subs, s)
	if h.Metrics != nil {
		h.Metrics.Record(metrics.Event{Kind: metrics.BusSubscribed, Transport: h.name(), Topic: t.name})
	}
	if !reached(s.epoch, from.Offset, t.top) {
		h.startCatchUp(t, s, catchUpJoin)
	}
	if ctx.Done() != nil {
		s.stop = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	}
	t.mu.Unlock()
	return s, nil
}

// Deliver hands m, the message at position p that the feed of the topic
// called name announced, to the topic's subscribers. It never waits for a
// subscriber: one whose channel is full, or that is not right before p,
// reads the history instead; one that stalled is cut with ErrSlowConsumer.
// A topic without subscribers ignores it. Messages of a topic should be
// delivered in order (a broker that stores and delivers under one lock
// does so); one that arrives early only costs its subscribers a Read.
func (h *Hub) Deliver(name string, m Message, p Position) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	t.mu.Lock()
	t.raiseLocked(p)
	if n := h.recentMax(); n > 0 {
		t.recent.add(p, m, n)
	}
	now := time.Now()
	var cut, live int
	for i := len(t.subs) - 1; i >= 0; i-- {
		s := t.subs[i]
		if s.state == stateLive {
			sent := s.sent.Load()
			switch {
			case p.Follows(Position{Epoch: s.epoch, Offset: sent}):
				select {
				case s.ch <- m:
					if s.epoch == "" {
						s.epoch = p.Epoch // the first message after Origin
					}
					s.sent.Store(p.Offset)
					live++
				default:
					h.startCatchUp(t, s, catchUpFull)
				}
			case s.epoch == p.Epoch && p.Offset <= sent:
				// Already delivered (from the history).
			default:
				h.startCatchUp(t, s, catchUpGap) // a gap, or a new epoch
			}
			continue
		}
		if h.stalledLocked(t, s, now) {
			t.endLocked(s, ErrSlowConsumer)
			cut++
		}
	}
	t.mu.Unlock()
	if live > 0 && h.Metrics != nil {
		h.Metrics.Record(metrics.Event{Kind: metrics.BusDelivered, Transport: h.name(), Topic: name, Outcome: pathLive, N: int64(live)})
	}
	for range cut {
		h.Release(t)
	}
}

// Resync records top, the topic's top as read from the broker's storage,
// and sends the subscribers that have not reached it to the history. It is
// the backstop against announcements lost without an error.
func (h *Hub) Resync(t *HubTopic, top Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.raiseLocked(top) {
		return
	}
	for i := len(t.subs) - 1; i >= 0; i-- {
		if s := t.subs[i]; s.state == stateLive && !reached(s.epoch, s.sent.Load(), top) {
			h.startCatchUp(t, s, catchUpResync)
		}
	}
}

// stalledLocked reports whether the lagging subscriber s stopped reading:
// its channel stayed full, its position did not move and its consumer
// reported no progress (Progress) for the stall timeout while it is more
// than maxLag behind. t.mu is held.
func (h *Hub) stalledLocked(t *HubTopic, s *hubSub, now time.Time) bool {
	sent, prog := s.sent.Load(), s.progress.Load()
	if sent != s.seenSent || prog != s.seenProg || len(s.ch) < cap(s.ch) {
		s.seenSent, s.seenProg, s.seenAt = sent, prog, now
		return false
	}
	// A catch-up read may have gone past the top the feed announced.
	return s.epoch == t.top.Epoch && sent < t.top.Offset && t.top.Offset-sent > h.maxLag() && now.Sub(s.seenAt) >= h.stallTimeout()
}

// Reasons of BusCatchUp events, and paths of BusDelivered events.
const (
	catchUpJoin   = "join"
	catchUpFull   = "full"
	catchUpGap    = "gap"
	catchUpResync = "resync"

	pathLive    = "live"
	pathHistory = "history"
)

// startCatchUp switches s to reading the history, for the reason given
// (reported to Metrics). t.mu is held.
func (h *Hub) startCatchUp(t *HubTopic, s *hubSub, reason string) {
	if h.Metrics != nil {
		// How far behind the known top s is; a subscriber of another
		// epoch (or at Origin) is behind by the whole top.
		lag := t.top.Offset
		if sent := s.sent.Load(); s.epoch == t.top.Epoch && sent <= lag {
			lag -= sent
		}
		h.Metrics.Record(metrics.Event{Kind: metrics.BusCatchUp, Transport: h.name(), Topic: t.name, Outcome: reason, N: int64(lag)})
	}
	s.state = stateLagging
	s.seenSent, s.seenProg, s.seenAt = s.sent.Load(), s.progress.Load(), time.Now()
	s.wg.Add(1)
	h.wg.Add(1)
	go s.catchUp()
}

// Close ends every subscription with ErrClosed, makes later Acquire and
// Join calls fail with it, and waits for the Hub's goroutines. Idle is
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
			t.endLocked(t.subs[i], ErrClosed)
		}
		t.mu.Unlock()
		for range n {
			h.Release(t)
		}
	}
	h.wg.Wait()
}
