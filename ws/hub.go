package ws

import (
	"context"
	"errors"
	"sync"

	"github.com/pushpull/pushpull/bus"
)

// A hub is the live fan-out of one topic: a single broker subscription per
// Handler and topic, whose messages are encoded once and queued on every
// subscribed connection. It lives while some connection subscribes.
type hub struct {
	h     *Handler
	topic string
	ready chan struct{} // closed once started; err tells how
	err   error

	sub    bus.Subscription
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu   sync.Mutex   // lock order: hub.mu before Conn.mu; Handler.mu is never held with either
	last bus.Position // the last message fanned out
	dead error        // the fan-out ended; nobody may attach
	subs []*connSub
}

// hub returns the started hub of topic, taking a reference the caller
// gives back with releaseHub.
func (h *Handler) hub(ctx context.Context, topic string) (*hub, error) {
	hb, start, _ := h.hubs.Acquire(topic, func() (*hub, error) {
		return &hub{h: h, topic: topic, ready: make(chan struct{})}, nil
	})
	if start {
		hb.err = hb.start(ctx)
		close(hb.ready)
	} else {
		select {
		case <-hb.ready:
		case <-ctx.Done():
			h.releaseHub(hb)
			return nil, ctx.Err()
		}
	}
	if hb.err != nil {
		h.releaseHub(hb)
		return nil, hb.err
	}
	return hb, nil
}

// releaseHub gives back a reference; the last one stops the hub.
func (h *Handler) releaseHub(hb *hub) {
	if h.hubs.Release(hb.topic, hb) && hb.done != nil {
		hb.cancel()
		<-hb.done
	}
}

func (hb *hub) start(ctx context.Context) error {
	// The fan-out outlives the request that started it; it ends with its
	// last subscriber (releaseHub).
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	top, err := hb.h.Broker.Top(ctx, hb.topic)
	if err == nil {
		hb.last, err = bus.ParseID(top)
	}
	var sub bus.Subscription
	if err == nil {
		sub, err = hb.h.Broker.Subscribe(ctx, hb.topic, top)
	}
	if err != nil {
		cancel()
		return err
	}
	hb.sub, hb.cancel, hb.done = sub, cancel, make(chan struct{})
	go hb.run(ctx)
	return nil
}

func (hb *hub) run(ctx context.Context) {
	defer close(hb.done)
	defer func() { hb.sub.Close() }()
	for {
		for m := range hb.sub.C() {
			hb.fanOut(m)
		}
		err := hb.sub.Err()
		if err == nil || ctx.Err() != nil {
			return
		}
		if errors.Is(err, bus.ErrSlowConsumer) {
			// The broker cut the fan-out; its position is still in the
			// history, so continue from it.
			hb.mu.Lock()
			after := hb.last.ID()
			hb.mu.Unlock()
			sub, serr := hb.h.Broker.Subscribe(ctx, hb.topic, after)
			if serr == nil {
				hb.sub.Close()
				hb.sub = sub
				continue
			}
			err = serr
		}
		hb.fail(ctx, err)
		return
	}
}

// fanOut encodes m once (through the Handler's cache, where connections
// catching up from history find it) and queues it on every subscribed connection that
// has not seen it yet. It never waits for a connection: a subscription whose
// connection's queue is full leaves the fan-out and catches up from
// history (see Conn.catchUp).
func (hb *hub) fanOut(m bus.Message) {
	pos, err := bus.ParseID(m.ID)
	if err != nil {
		hb.h.logger().Warn("ws: broker delivered a message without a valid ID", "topic", hb.topic, "id", m.ID)
		return
	}
	p, _ := hb.h.cache.Get(&m, encodeCached)
	hb.mu.Lock()
	hb.last = pos
	for i := 0; i < len(hb.subs); {
		s := hb.subs[i]
		if pos.After(s.last) {
			if !s.c.sendMessage(s, p) {
				hb.detachLocked(s)
				continue // another subscription took index i
			}
			s.last = pos
		}
		i++
	}
	hb.mu.Unlock()
}

// fail ends the fan-out: every subscriber gets a reset or error frame and
// loses the subscription; the client subscribes again from its cursor.
func (hb *hub) fail(ctx context.Context, err error) {
	hb.h.hubs.Forget(hb.topic, hb)
	err = withTop(ctx, hb.h.Broker, hb.topic, hb.lastID(), err)
	hb.mu.Lock()
	subs := hb.subs
	hb.subs = nil
	hb.dead = err
	for _, s := range subs {
		s.gone = true
	}
	hb.mu.Unlock()
	dropped := 0
	for _, s := range subs {
		if s.c.forget(s) {
			s.leave()
			dropped++
			s.c.sendError("", hb.topic, err)
		}
	}
	for range dropped {
		// run, which called fail, is ending: the last reference has
		// only the context left to cancel.
		if hb.h.hubs.Release(hb.topic, hb) {
			hb.cancel()
		}
	}
}

// tryAttach joins s to the fan-out when the fan-out is not past cursor, so
// that the next message s gets is the one after cursor. It queues ack first
// unless acked. A cursor ahead of the fan-out is joined only when
// aheadChecked says the broker holds it (the fan-out may lag the broker
// by a moment); otherwise tryAttach reports ahead, and the caller checks the
// cursor against the broker's top.
func (hb *hub) tryAttach(s *connSub, cursor string, ack []byte, acked, aheadChecked bool) (ok, ahead bool, err error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.dead != nil {
		return false, false, hb.dead
	}
	if s.gone {
		return false, false, errConnClosing
	}
	var pos bus.Position
	if cursor == bus.Oldest {
		if hb.last.Offset != 0 {
			return false, false, nil
		}
		pos = hb.last
	} else {
		p, err := bus.ParseID(cursor)
		if err != nil {
			return false, false, err
		}
		if p.Epoch != hb.last.Epoch || hb.last.After(p) {
			return false, false, nil
		}
		if p.After(hb.last) && !aheadChecked {
			return false, true, nil
		}
		pos = p
	}
	if !acked {
		s.c.send(ack)
	}
	s.last = pos
	s.idx = len(hb.subs)
	hb.subs = append(hb.subs, s)
	return true, false, nil
}

// attachedLocked reports whether s is in the fan-out. hb.mu is held.
func (hb *hub) attachedLocked(s *connSub) bool {
	return s.idx < len(hb.subs) && hb.subs[s.idx] == s
}

// owe records that the connection of s published the message at pos to
// the topic: until the fan-out has queued it on s (or the writer has
// written it from history), the messages up to it are owed to the
// connection (see debt). It reports false when nothing is owed: s has
// ended, or already got pos.
func (hb *hub) owe(s *connSub, pos bus.Position) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if s.gone || !pos.After(s.last) {
		return false
	}
	if !s.owed.After(pos) {
		s.owed = pos
	}
	return true
}

// debt returns how many messages the fan-out has yet to queue on s up to
// the last one its connection published (see owe); 0 once they are
// queued or written, or when s has ended.
func (hb *hub) debt(s *connSub) int {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if s.gone || !s.owed.After(s.last) {
		s.owed = bus.Position{}
		return 0
	}
	return int(min(s.owed.Offset-s.last.Offset, 1<<30))
}

// remove takes s out of the fan-out for good: s is ending. It may be
// called whether s is in the fan-out or not.
func (hb *hub) remove(s *connSub) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	s.gone = true
	if hb.attachedLocked(s) {
		hb.detachLocked(s)
	}
}

// advance records that the messages of s up to pos are written, then joins
// s to the fan-out when that has not gone past pos, and reports whether it
// did. A gone s is left alone. hb.mu is not held.
func (hb *hub) advance(s *connSub, pos bus.Position) (joined bool, err error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if s.gone {
		return false, nil
	}
	if hb.dead != nil {
		return false, hb.dead
	}
	if pos.After(s.last) {
		s.last = pos
	}
	if pos != hb.last && !pos.After(hb.last) {
		return false, nil // behind, or of another epoch: read on
	}
	s.idx = len(hb.subs)
	hb.subs = append(hb.subs, s)
	return true, nil
}

// detachLocked takes s, which is in the fan-out, out of it. hb.mu is held.
func (hb *hub) detachLocked(s *connSub) {
	last := len(hb.subs) - 1
	hb.subs[s.idx] = hb.subs[last]
	hb.subs[s.idx].idx = s.idx
	hb.subs[last] = nil
	hb.subs = hb.subs[:last]
}

// withTop gives err, when it is an expired cursor that does not tell the
// top, the top of topic, so that the client is told where to continue.
func withTop(ctx context.Context, b bus.Broker, topic, cursor string, err error) error {
	if !errors.Is(err, bus.ErrCursorExpired) {
		return err
	}
	if _, ok := bus.TopOf(err); ok {
		return err
	}
	top, terr := b.Top(ctx, topic)
	if terr != nil {
		return err
	}
	return &bus.CursorError{Topic: topic, Cursor: cursor, Top: top, Err: bus.ErrCursorExpired}
}

func (hb *hub) lastID() string {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.last.ID()
}

// encodeCached is the Handler cache's encoder of message envelopes.
func encodeCached(m *bus.Message) ([]byte, error) { return encodeMessage(*m), nil }
