package longpoll

import (
	"container/heap"
	"context"
	"net"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
)

// A hub serves the requests held on one topic. It holds the topic's only
// broker subscription in this Handler, from "now" on, and one timer for the
// earliest deadline of its waiters. It keeps the latest messages it
// received, each encoded once, in a short window; when messages arrive it
// takes every one already queued on the subscription, adds them to the
// window and notifies every waiter once. A woken waiter whose cursor is in
// the window answers with everything that follows it there, up to its
// limit, and the answer's body is built once for all the waiters that share
// its cursor and limit. When a deadline passes the hub notifies the waiters
// whose time is up. A held request thus blocks on one channel of its own,
// needs no timer of its own and no select.
type hub struct {
	topic string
	sub   bus.Subscription
	done  chan struct{} // closed when run returns
	kick  chan struct{} // the earliest deadline changed

	mu      sync.RWMutex
	waiters waiters   // by deadline
	batch   []*waiter // run's copy of waiters, to notify them unlocked
	dead    bool
	window  []encoded // the latest messages, contiguous, oldest first
	size    int       // bytes of raw in window
	bodies  []body    // answers built from window since it last changed
	msgs    []bus.Message
}

// encoded is a message of the window.
type encoded struct {
	pos bus.Position
	id  string
	raw []byte // pollwire.AppendMessage
}

// body is an answer built from the window: the n messages after from.
type body struct {
	from bus.Position
	n    int
	b    []byte
}

// Bounds of a hub's window. A waiter whose cursor has left it reads from
// the broker instead.
const (
	windowLen   = 128
	windowBytes = 4 << 20
)

// A waiter is a held request.
type waiter struct {
	ch       chan struct{} // capacity 1: something happened, look again
	deadline time.Time
	index    int  // in hub.waiters, -1 when not queued; guarded by hub.mu
	expired  bool // the deadline passed; guarded by hub.mu
	wg       sync.WaitGroup

	// A request held outside net/http waits in a Read of its connection:
	// a notification also ends that Read.
	held bool       // set once, before the waiter is shared
	mu   sync.Mutex // guards conn
	conn net.Conn   // nil once its Read is no longer watched
}

func (w *waiter) notify() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
	if w.held {
		w.mu.Lock()
		if w.conn != nil {
			_ = w.conn.SetReadDeadline(pastDeadline)
		}
		w.mu.Unlock()
	}
}

// stopWatching makes later notifications leave the connection alone.
func (w *waiter) stopWatching() {
	w.mu.Lock()
	w.conn = nil
	w.mu.Unlock()
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
		hb := &hub{topic: topic, sub: sub, done: make(chan struct{}), kick: make(chan struct{}, 1)}
		hb.window = h.kept.take(topic)
		for _, e := range hb.window {
			hb.size += len(e.raw)
		}
		return hb, nil
	})
	if first {
		go hb.run(context.WithoutCancel(ctx), h)
	}
	return hb, err
}

// release drops a reference; the last one stops the hub and waits for its
// goroutine, so no goroutine outlives the requests that used it. The hub's
// window is kept for the next hub of the topic.
func (h *Handler) release(hb *hub) {
	if h.hubs.Release(hb.topic, hb) {
		hb.sub.Close()
		<-hb.done
		hb.mu.Lock()
		w := hb.window
		hb.window = nil
		hb.mu.Unlock()
		h.kept.put(hb.topic, w)
	}
}

// keptWindows holds windows of encoded messages outside hubs: those of
// hubs that ended, for the next hub of their topic (requests come and go on
// a busy topic, its hub with them, and a new hub would otherwise start with
// nothing encoded), and those that requests read from the broker fill, so
// that clients reading the same messages behind the top encode each once.
// It keeps the windows of the keptTopics topics used last, each of at
// most keptLen messages and keptBytes: a client up to that far behind the
// top reads messages encoded once. The zero value is empty.
type keptWindows struct {
	mu     sync.Mutex
	topics []string
	m      map[string]*kept
}

// kept is a window of keptWindows, with its size in bytes.
type kept struct {
	w    []encoded
	size int
}

const (
	keptTopics = 16
	keptLen    = 1024    // messages per topic
	keptBytes  = 1 << 20 // encoded bytes per topic
)

func (k *keptWindows) put(topic string, w []encoded) {
	if len(w) == 0 {
		return
	}
	kw := &kept{w: append([]encoded(nil), w...)}
	for _, e := range kw.w {
		kw.size += len(e.raw)
	}
	kw.trim()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.putLocked(topic, kw)
}

// encode returns msgs, contiguous messages of topic as Broker.Read returns
// them, encoded: those the topic's window has already, the others encoded
// now and added to it when they extend it.
func (k *keptWindows) encode(topic string, msgs []bus.Message) [][]byte {
	raws := make([][]byte, len(msgs))
	k.mu.Lock()
	defer k.mu.Unlock()
	kw := k.m[topic]
	if kw == nil {
		kw = &kept{}
	}
	for i := range msgs {
		p, err := msgs[i].Position()
		if err != nil {
			raws[i] = pollwire.AppendMessage(nil, &msgs[i])
			continue
		}
		w := kw.w
		if n := len(w); n > 0 && p.Epoch == w[0].pos.Epoch && p.Offset >= w[0].pos.Offset && p.Offset <= w[n-1].pos.Offset {
			if e := w[p.Offset-w[0].pos.Offset]; e.pos == p {
				raws[i] = e.raw
				continue
			}
		}
		raws[i] = pollwire.AppendMessage(nil, &msgs[i])
		if n := len(w); n > 0 && !p.Follows(w[n-1].pos) {
			if !p.After(w[n-1].pos) && p.Epoch == w[n-1].pos.Epoch {
				continue // older than the window
			}
			clear(kw.w) // a gap: start again from here
			kw.w, kw.size = kw.w[:0], 0
		}
		kw.w = append(kw.w, encoded{pos: p, id: msgs[i].ID, raw: raws[i]})
		kw.size += len(raws[i])
	}
	kw.trim()
	if len(kw.w) > 0 {
		k.putLocked(topic, kw)
	}
	return raws
}

// trim drops the oldest messages past keptLen or keptBytes, a quarter of
// the bound at a time, so that a window at its bound is not copied on every
// message.
func (kw *kept) trim() {
	if len(kw.w) <= keptLen && kw.size <= keptBytes {
		return
	}
	drop := max(len(kw.w)-keptLen+keptLen/4, 0)
	for _, e := range kw.w[:drop] {
		kw.size -= len(e.raw)
	}
	for drop < len(kw.w)-1 && kw.size > keptBytes*3/4 {
		kw.size -= len(kw.w[drop].raw)
		drop++
	}
	kw.w = append([]encoded(nil), kw.w[drop:]...)
}

func (k *keptWindows) putLocked(topic string, kw *kept) {
	if k.m == nil {
		k.m = make(map[string]*kept)
	}
	if _, ok := k.m[topic]; !ok {
		if len(k.topics) == keptTopics {
			delete(k.m, k.topics[0])
			k.topics = append(k.topics[:0], k.topics[1:]...)
		}
		k.topics = append(k.topics, topic)
	}
	k.m[topic] = kw
}

// take removes the window of topic and returns it, cut to windowLen
// messages for a hub.
func (k *keptWindows) take(topic string) []encoded {
	k.mu.Lock()
	defer k.mu.Unlock()
	kw, ok := k.m[topic]
	if !ok {
		return nil
	}
	delete(k.m, topic)
	for i, t := range k.topics {
		if t == topic {
			k.topics = append(k.topics[:i], k.topics[i+1:]...)
			break
		}
	}
	return append([]encoded(nil), kw.w[max(len(kw.w)-windowLen, 0):]...)
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

// woken tells a waiter after a wake-up whether its deadline passed and
// whether the hub ended.
func (hb *hub) woken(w *waiter) (expired, dead bool) {
	hb.mu.RLock()
	defer hb.mu.RUnlock()
	return w.expired, hb.dead
}

// answer returns the body of the answer to a request at cursor with limit,
// made of the messages of the window that follow cursor, their number and
// the new cursor; nil when the window does not hold the message that
// follows cursor. Waiters with the same cursor and limit share one body:
// it must not be modified.
func (hb *hub) answer(cursor bus.Position, limit int) (b []byte, n int, id string) {
	hb.mu.RLock()
	i := hb.find(cursor)
	if i < 0 {
		hb.mu.RUnlock()
		return nil, 0, ""
	}
	n = fit(min(limit, len(hb.window)-i), func(k int) int { return len(hb.window[i+k].raw) })
	id = hb.window[i+n-1].id
	for _, bd := range hb.bodies {
		if bd.n == n && bd.from == cursor {
			hb.mu.RUnlock()
			return bd.b, n, id
		}
	}
	hb.mu.RUnlock()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if i = hb.find(cursor); i < 0 { // the window moved on meanwhile
		return nil, 0, ""
	}
	n = fit(min(limit, len(hb.window)-i), func(k int) int { return len(hb.window[i+k].raw) })
	id = hb.window[i+n-1].id
	for _, bd := range hb.bodies {
		if bd.n == n && bd.from == cursor {
			return bd.b, n, id
		}
	}
	raws := make([][]byte, n)
	for k := range raws {
		raws[k] = hb.window[i+k].raw
	}
	b = pollwire.AppendRawBatch(nil, raws, id)
	hb.bodies = append(hb.bodies, body{from: cursor, n: n, b: b})
	return b, n, id
}

// maxAnswerBytes bounds the encoded messages of an answer: it ends before
// the message that would pass it, but carries one message at least.
const maxAnswerBytes = 1 << 20

// fit returns how many of the first n messages an answer carries, size(i)
// being the encoded size of message i.
func fit(n int, size func(i int) int) int {
	total := 0
	for i := range n {
		if total += size(i); total > maxAnswerBytes && i > 0 {
			return i
		}
	}
	return n
}

// find returns the index in the window of the message that follows cursor,
// or -1. The caller holds hb.mu.
func (hb *hub) find(cursor bus.Position) int {
	if len(hb.window) == 0 {
		return -1
	}
	first := hb.window[0].pos
	if first.Follows(cursor) {
		return 0
	}
	if !cursor.After(first) && cursor != first {
		return -1
	}
	i := int(cursor.Offset-first.Offset) + 1
	if i >= len(hb.window) || !hb.window[i].pos.Follows(cursor) {
		return -1
	}
	return i
}

// run delivers the subscription's messages and the deadlines to the
// waiters. A window kept from the topic's previous hub is first completed
// with what was published since, read from the broker.
func (hb *hub) run(ctx context.Context, h *Handler) {
	defer close(hb.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	hb.arm(timer)
	hb.mu.RLock()
	var last string
	if k := len(hb.window); k > 0 {
		last = hb.window[k-1].id
	}
	hb.mu.RUnlock()
	if last != "" {
		msgs, err := h.Broker.Read(ctx, hb.topic, last, windowLen)
		if err != nil {
			hb.mu.Lock()
			hb.window, hb.size = nil, 0
			hb.mu.Unlock()
		} else if len(msgs) > 0 {
			hb.addMessages(msgs)
		}
	}
	for {
		select {
		case m, ok := <-hb.sub.C():
			if !ok {
				hb.end(h)
				return
			}
			if !hb.deliver(m) {
				hb.end(h)
				return
			}
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

// deliver takes m and every message already queued after it, adds them to
// the window and notifies the waiters once. It reports false when the
// subscription ended.
func (hb *hub) deliver(m bus.Message) bool {
	msgs, open := append(hb.msgs[:0], m), true
drain:
	for len(msgs) < windowLen {
		select {
		case m, ok := <-hb.sub.C():
			if !ok {
				open = false
				break drain
			}
			msgs = append(msgs, m)
		default:
			break drain
		}
	}
	hb.addMessages(msgs)
	clear(msgs)
	hb.msgs = msgs[:0]
	return open
}

// addMessages encodes msgs, adds them to the window, skipping those it has, and
// notifies the waiters once.
func (hb *hub) addMessages(msgs []bus.Message) {
	add := make([]encoded, 0, len(msgs))
	for i := range msgs {
		p, err := msgs[i].Position()
		if err != nil {
			continue
		}
		add = append(add, encoded{pos: p, id: msgs[i].ID, raw: pollwire.AppendMessage(nil, &msgs[i])})
	}
	hb.mu.Lock()
	for _, e := range add {
		if k := len(hb.window); k > 0 && !e.pos.Follows(hb.window[k-1].pos) {
			if !e.pos.After(hb.window[k-1].pos) && e.pos.Epoch == hb.window[k-1].pos.Epoch {
				continue // read from the broker and received too
			}
			clear(hb.window)
			hb.window, hb.size = hb.window[:0], 0
		}
		hb.window = append(hb.window, e)
		hb.size += len(e.raw)
	}
	drop := 0
	for len(hb.window)-drop > windowLen || hb.size > windowBytes && len(hb.window)-drop > 1 {
		hb.size -= len(hb.window[drop].raw)
		drop++
	}
	if drop > 0 {
		hb.window = append(hb.window[:0], hb.window[drop:]...)
		clear(hb.window[len(hb.window):cap(hb.window)])
	}
	clear(hb.bodies)
	hb.bodies = hb.bodies[:0]
	hb.batch = append(hb.batch[:0], hb.waiters...)
	hb.mu.Unlock()
	// Notify without the lock, so the waiters woken first can already
	// answer. A waiter that left meanwhile gets a harmless extra
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
