package longpoll

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
)

// A hub serves the requests held on one topic. It holds the topic's only
// broker subscription in this Handler, from "now" on, and one timer for the
// earliest deadline of its waiters. On each message it keeps the message
// encoded once and notifies every waiter; when a deadline passes it
// notifies the waiters whose time is up. A held request thus blocks on one
// channel of its own, needs no timer of its own and no select.
type hub struct {
	topic string
	sub   bus.Subscription
	done  chan struct{} // closed when run returns
	kick  chan struct{} // the earliest deadline changed

	mu      sync.RWMutex
	waiters waiters   // by deadline
	batch   []*waiter // run's copy of waiters, to notify them unlocked
	dead    bool
	last    bus.Position // the last message seen, valid when raw != nil
	id      string
	raw     []byte // the last message, encoded
}

// A waiter is a held request.
type waiter struct {
	ch       chan struct{} // capacity 1: something happened, look again
	deadline time.Time
	index    int  // in hub.waiters, -1 when not queued; guarded by hub.mu
	expired  bool // the deadline passed; guarded by hub.mu
	wg       sync.WaitGroup
}

func (w *waiter) notify() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// acquire returns the hub of topic, starting one if needed, with a
// reference for the caller.
func (h *Handler) acquire(ctx context.Context, topic string) (*hub, error) {
	hb, first, err := h.hubs.Acquire(topic, func() (*hub, error) {
		// The hub outlives this request, so its subscription must not end
		// with the request's context.
		sub, err := h.Broker.Subscribe(context.WithoutCancel(ctx), topic, "")
		if err != nil {
			return nil, err
		}
		return &hub{topic: topic, sub: sub, done: make(chan struct{}), kick: make(chan struct{}, 1)}, nil
	})
	if first {
		go hb.run(h)
	}
	return hb, err
}

// release drops a reference; the last one stops the hub and waits for its
// goroutine, so no goroutine outlives the requests that used it.
func (h *Handler) release(hb *hub) {
	if h.hubs.Release(hb.topic, hb) {
		hb.sub.Close()
		<-hb.done
	}
}

// notifyAll wakes every waiter of every hub (Shutdown).
func (h *Handler) notifyAll() {
	h.hubs.Each(func(hb *hub) {
		hb.mu.Lock()
		for _, w := range hb.waiters {
			w.notify()
		}
		hb.mu.Unlock()
	})
}

// add queues w. It reports false when the hub has ended.
func (hb *hub) add(w *waiter) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.dead {
		return false
	}
	heap.Push(&hb.waiters, w)
	if w.index == 0 {
		select {
		case hb.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// remove unqueues w and reports whether its deadline passed.
func (hb *hub) remove(w *waiter) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if w.index >= 0 {
		heap.Remove(&hb.waiters, w.index)
	}
	return w.expired
}

// woken tells a waiter after a wake-up whether its deadline passed, whether
// the hub ended, and the hub's last message, encoded, when it directly
// follows cursor.
func (hb *hub) woken(w *waiter, cursor bus.Position) (expired, dead bool, id string, raw []byte) {
	hb.mu.RLock()
	defer hb.mu.RUnlock()
	if hb.raw != nil && hb.last.Follows(cursor) {
		id, raw = hb.id, hb.raw
	}
	return w.expired, hb.dead, id, raw
}

// run delivers the subscription's messages and the deadlines to the
// waiters.
func (hb *hub) run(h *Handler) {
	defer close(hb.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	hb.arm(timer)
	for {
		select {
		case m, ok := <-hb.sub.C():
			if !ok {
				hb.end(h)
				return
			}
			hb.deliver(&m)
		case <-timer.C:
			hb.expire()
			hb.arm(timer)
		case <-hb.kick:
			hb.arm(timer)
		}
	}
}

// arm sets timer to the earliest deadline.
func (hb *hub) arm(timer *time.Timer) {
	hb.mu.Lock()
	d := time.Hour
	if len(hb.waiters) > 0 {
		d = time.Until(hb.waiters[0].deadline)
	}
	hb.mu.Unlock()
	timer.Reset(d)
}

func (hb *hub) deliver(m *bus.Message) {
	p, err := m.Position()
	raw := pollwire.AppendMessage(nil, m)
	hb.mu.Lock()
	if err == nil {
		hb.last, hb.id, hb.raw = p, m.ID, raw
	}
	hb.batch = append(hb.batch[:0], hb.waiters...)
	hb.mu.Unlock()
	// Notify without the lock, so the waiters woken first can already read
	// the message. A waiter that left meanwhile gets a harmless extra
	// notification on its buffered channel.
	for _, w := range hb.batch {
		w.notify()
	}
	clear(hb.batch)
}

func (hb *hub) expire() {
	now := time.Now()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for len(hb.waiters) > 0 && !hb.waiters[0].deadline.After(now) {
		w := heap.Pop(&hb.waiters).(*waiter)
		w.expired = true
		w.notify()
	}
}

// end marks the hub dead after its subscription ended (the broker closed,
// or it fell behind) and wakes everyone; the next waiter starts a new hub.
func (hb *hub) end(h *Handler) {
	h.hubs.Forget(hb.topic, hb)
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.dead = true
	for _, w := range hb.waiters {
		w.notify()
	}
}

// waiters is a min-heap of waiters by deadline (container/heap).
type waiters []*waiter

func (q waiters) Len() int           { return len(q) }
func (q waiters) Less(i, j int) bool { return q[i].deadline.Before(q[j].deadline) }
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
