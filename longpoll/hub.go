package longpoll

import (
	"context"
	"sync"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
)

// A hub wakes the requests held on one topic. It holds the topic's only
// broker subscription in this Handler, from "now" on, and on each message
// closes the current wake channel and keeps the message encoded once for
// every waiter whose cursor it follows.
type hub struct {
	topic string
	refs  int // waiters using it, guarded by Handler.hubsMu
	sub   bus.Subscription
	done  chan struct{} // closed when run returns

	mu   sync.Mutex
	wake chan struct{} // closed at the next message or when the hub ends
	dead bool
	last bus.Position // the last message seen, valid when raw != nil
	id   string
	raw  []byte // the last message, encoded
}

// acquire registers st with the hub of its topic, starting one if needed,
// and sets the channel that wakes it.
func (h *Handler) acquire(ctx context.Context, st *state) (*hub, error) {
	topic := st.req.Topic
	h.hubsMu.Lock()
	hb := h.hubs[topic]
	if hb == nil {
		// The hub outlives this request, so its subscription must not end
		// with the request's context.
		sub, err := h.Broker.Subscribe(context.WithoutCancel(ctx), topic, "")
		if err != nil {
			h.hubsMu.Unlock()
			return nil, err
		}
		hb = &hub{topic: topic, sub: sub, done: make(chan struct{}), wake: make(chan struct{})}
		if h.hubs == nil {
			h.hubs = make(map[string]*hub)
		}
		h.hubs[topic] = hb
		go h.run(hb)
	}
	hb.refs++
	h.hubsMu.Unlock()
	hb.mu.Lock()
	st.wake = hb.wake
	hb.mu.Unlock()
	return hb, nil
}

// release unregisters a waiter; the last one stops the hub and waits for
// its goroutine, so no goroutine outlives the requests that used it.
func (h *Handler) release(hb *hub) {
	h.hubsMu.Lock()
	hb.refs--
	last := hb.refs == 0
	if last && h.hubs[hb.topic] == hb {
		delete(h.hubs, hb.topic)
	}
	h.hubsMu.Unlock()
	if last {
		hb.sub.Close()
		<-hb.done
	}
}

// run forwards the subscription's messages as wake-ups.
func (h *Handler) run(hb *hub) {
	defer close(hb.done)
	for m := range hb.sub.C() {
		p, err := m.Position()
		if err != nil {
			continue
		}
		raw := pollwire.AppendMessage(nil, &m)
		hb.mu.Lock()
		hb.last, hb.id, hb.raw = p, m.ID, raw
		close(hb.wake)
		hb.wake = make(chan struct{})
		hb.mu.Unlock()
	}
	// The subscription ended (the broker closed, or it fell behind): wake
	// everyone and let the next waiter start a new hub.
	h.hubsMu.Lock()
	if h.hubs[hb.topic] == hb {
		delete(h.hubs, hb.topic)
	}
	h.hubsMu.Unlock()
	hb.mu.Lock()
	hb.dead = true
	close(hb.wake)
	hb.mu.Unlock()
}

// after returns the hub's last message, encoded, when it directly follows
// cursor.
func (hb *hub) after(cursor string) (string, []byte, bool) {
	c, err := bus.ParseID(cursor)
	if err != nil {
		return "", nil, false
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.raw == nil || !hb.last.Follows(c) {
		return "", nil, false
	}
	return hb.id, hb.raw, true
}
