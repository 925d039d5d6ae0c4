package ws

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
)

// minQueue is the initial capacity of a connection's queue.
const minQueue = 4

// maxMalformed is how many malformed frames in a row a connection may send
// before it is closed with StatusPolicyViolation.
const maxMalformed = 16

// catchUpBatch is how many history messages a subscription replays per
// broker read.
const catchUpBatch = 128

// maxEmptyCatchUps is how many broker reads in a row may find nothing new
// for a subscription that still cannot rejoin the fan-out before it is
// ended with an internal error: the broker's history and its live
// delivery disagree.
const maxEmptyCatchUps = 16

// A Conn is one client connection of a Handler, as seen by
// Handler.OnMessage. Its methods are safe for concurrent use.
type Conn struct {
	h   *Handler
	ws  *websocket.Conn
	req *http.Request
	id  *auth.Identity // from Handler.Auth; nil without one

	netConn *peekConn          // the hijacked connection: closing it aborts everything
	br      *bufio.Reader      // what ws reads frames from
	brMu    sync.Mutex         // held by whoever looks into br apart from ws.Read
	start   time.Time          // when it opened, for Metrics
	batch   int                // the largest batch frame; 0: one envelope per frame
	ctx     context.Context    // for broker reads; cancelled by teardown
	cancel  context.CancelFunc // cancels ctx

	mu          sync.Mutex
	queue       []frame // ring buffer, grown while frames wait
	head, n     int
	writing     bool // a writer goroutine runs
	idle        bool // it waits for frames on kick (waitFramesLocked)
	kick        chan struct{}
	quit        bool        // the linger timer found the writer idle: it ends
	lingering   bool        // the linger timer is set
	lingerTakes uint64      // takes when the linger timer last looked
	ltimer      *time.Timer // the linger timer
	closing     bool        // no more frames are queued
	done        bool        // serve is tearing down: no more goroutines
	closeCode   websocket.StatusCode
	closeReason string
	subs        map[string]*connSub
	written     atomic.Uint64 // frames written: see ping
	pinged      uint64        // written at the last ping; the pinger\'s only
	lagging     []*connSub    // subscriptions fed from history by the writer
	takes       uint64        // how many times the writer took the queue
	lastWrite   time.Time     // when the writer last wrote, with Handler.WriteDelay; the writer's own
	next        int           // the lagging subscription the writer feeds next; the writer's only
	owing       []*connSub    // subscriptions owed messages c published; the reader's only
	wtimer      *time.Timer   // write watchdog, while armed; c.mu guards it
	warmed      atomic.Bool   // the watchdog's timer is set
	wbusy       atomic.Bool   // a write is under way
	wstart      atomic.Int64  // when it began, in Unix nanoseconds
	wsent       atomic.Uint64 // netConn.sent when it began or the watchdog last saw progress
	ptimer      *time.Timer   // next ping
	etimer      *time.Timer   // the identity's expiry
	space       chan struct{}
	wg          sync.WaitGroup
}

type frame struct {
	p     []byte
	bin   bool
	raw   bool   // queued by Send: written alone, never in a batch
	topic string // of a message frame, for Metrics; "" for other frames
}

// connSub is one topic a connection subscribes to.
type connSub struct {
	c     *Conn
	hub   *hub
	topic string
	last  bus.Position // the last message queued or written; guarded by hub.mu once attached
	owed  bus.Position // the last message c published to topic, until queued; guarded by hub.mu
	idx   int          // index in hub.subs
	gone  bool         // removed for good: it never joins the fan-out again; guarded by hub.mu
	leave func()       // ends its presence (auth.Join); called once

	lagSince uint64 // c.takes when it fell behind; guarded by c.mu
	empty    int    // broker reads in a row that found nothing; the writer's only
}

func newConn(h *Handler, wc *websocket.Conn, nc *peekConn, br *bufio.Reader, r *http.Request) *Conn {
	c := &Conn{h: h, ws: wc, netConn: nc, br: br, req: r, space: make(chan struct{}, 1)}
	if wc.Subprotocol() == Subprotocol {
		// Only clients of the protocol read batch frames; a connection
		// without it may be an application's own (see OnMessage).
		c.batch = h.batchBytes()
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	return c
}

// Request returns the upgrade request. Its Context must not be used: the
// connection outlives it.
func (c *Conn) Request() *http.Request { return c.req }

// Identity returns who the connection is, as Handler.Auth found it, or nil
// when the Handler has no Auth.
func (c *Conn) Identity() *auth.Identity { return c.id }

// expireAt arms the closing of the connection when its identity expires.
func (c *Conn) expireAt() {
	if c.id == nil || c.id.Expires.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		c.etimer = time.AfterFunc(time.Until(c.id.Expires), func() {
			c.closeWith(CloseExpired, "credentials expired")
		})
	}
}

// Send queues a data frame for the client, behind the frames already
// queued. It never blocks: when the queue is full the connection is closed
// with CloseSlowConsumer and Send returns an error wrapping
// bus.ErrSlowConsumer; on a closing connection it returns bus.ErrClosed.
// A few replies per frame from OnMessage cannot overflow it: the
// connection's next frame is read only once its queue is less than half
// full (see Handler.QueueSize).
func (c *Conn) Send(typ websocket.MessageType, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		if c.closeCode == CloseSlowConsumer {
			return bus.ErrSlowConsumer
		}
		return bus.ErrClosed
	}
	if c.n >= c.h.queueSize() {
		c.closeLocked(CloseSlowConsumer, "slow consumer")
		return bus.ErrSlowConsumer
	}
	c.pushLocked(frame{p: p, bin: typ == websocket.MessageBinary, raw: true})
	return nil
}

// Close closes the connection with code and reason after the frames
// already queued are written. It does not wait.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.closeWith(code, reason)
}

// The reader: ServeHTTP's goroutine reads and serves the frames of the
// connection one at a time.

// serve runs the reader until the connection ends, then tears it down.
func (c *Conn) serve() {
	// Reads are never cancelled through ctx (that would cost a context
	// callback per frame); abort closes the connection instead.
	ctx := context.WithoutCancel(c.req.Context())
	c.mu.Lock()
	c.schedulePingLocked(ctx)
	c.mu.Unlock()
	c.ws.SetReadLimit(c.h.readLimit())
	malformed := 0
	for {
		c.waitRoom()
		// Wait for the next frame here rather than deep in
		// websocket.Conn.Read (see aside), unless it is buffered already
		// or the closing handshake is reading.
		if c.brMu.TryLock() {
			peek := c.br.Buffered() == 0
			c.brMu.Unlock()
			if peek {
				c.netConn.wait()
			}
		}
		var err error
		aside(func() { err = c.readFrame(ctx, &malformed) })
		if err != nil {
			c.h.logger().Debug("ws: connection ends", "remote_addr", c.req.RemoteAddr, "error", err)
			break
		}
	}
	c.teardown()
}

// aside runs f on a goroutine of its own and waits for it. The reader
// reads and serves each frame aside: reading a frame, decoding and serving
// a request need deep stacks, and a goroutine's stack, once grown, stays
// grown while the goroutine lives (the runtime shrinks a stack only when
// less than a quarter of it is in use). So the reader's stack stays as
// small as waiting for the next frame needs (4 KiB rather than 8), for as
// long as the connection lives.
// A panic of f is raised again on the caller's goroutine, so that it ends
// the request as it would have without aside.
func aside(f func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { p = recover() }()
		f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}

// readFrame reads the client's next frame and serves it, counting malformed
// frames in a row. It returns the error that ends the connection.
func (c *Conn) readFrame(ctx context.Context, malformed *int) error {
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return err
	}
	if c.h.OnMessage != nil && c.h.OnMessage(ctx, c, typ, data) {
		return nil
	}
	switch {
	case typ != websocket.MessageText:
		c.closeWith(websocket.StatusUnsupportedData, "binary frames are not part of "+Subprotocol)
	case !utf8.Valid(data):
		c.closeWith(websocket.StatusInvalidFramePayloadData, "text frame is not UTF-8")
	case c.handle(ctx, data):
		*malformed = 0
	default:
		if *malformed++; *malformed >= maxMalformed {
			c.closeWith(websocket.StatusPolicyViolation, "too many malformed frames")
		}
	}
	return nil
}

// waitRoom waits until the queue is less than half full or the connection
// is closing, counting as queued the messages the client published to its
// own subscriptions that the fan-out has yet to queue (see owe). The
// reader calls it before it reads each frame: a client that sends requests
// faster than it takes their replies is slowed down by TCP (its frames
// stay unread) instead of overflowing the queue, and one that stops
// reading altogether stops being read, until the write watchdog cuts it.
func (c *Conn) waitRoom() {
	half := max(c.h.queueSize()/2, 1)
	for {
		debt := c.debt()
		c.mu.Lock()
		ok := c.closing || c.n+debt < half
		c.mu.Unlock()
		if ok {
			return
		}
		// The writer took a frame (the fan-out paying a debt queues one
		// first), or the connection is closing.
		<-c.space
	}
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

func (c *Conn) subscribe(ctx context.Context, e *envelope) {
	if err := c.authorize(ctx, ActionSubscribe, e.Topic); err != nil {
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
	s.leave = auth.Join(ctx, c.h.Auth, c.id, e.Topic)

	err := c.attach(ctx, s, e)
	if err == nil {
		return
	}
	c.forget(s)
	s.leave()
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
	switch cursor {
	case "":
		top, err := c.h.Broker.Top(ctx, e.Topic)
		if err != nil {
			return err
		}
		cursor = top
	case bus.Latest:
		// The newest message is replayed first, then what follows.
		latest, err := bus.LatestCursor(ctx, c.h.Broker, e.Topic)
		if err != nil {
			return err
		}
		cursor = latest
	}
	resolves := 0 // of Latest again, when the newest left the history meanwhile
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
		if err != nil && e.After == bus.Latest && !acked && resolves < 3 && errors.Is(err, bus.ErrCursorExpired) {
			// Trimmed by newer messages, or expired: start with the
			// newest again.
			resolves++
			if cursor, err = bus.LatestCursor(ctx, c.h.Broker, e.Topic); err != nil {
				return err
			}
			ack = encode(&envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic, ID: cursor})
			aheadChecked = false
			continue
		}
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
		for i := range msgs {
			p, _ := c.h.cache.Get(&msgs[i], encodeCached)
			if !c.sendWait(ctx, e.Topic, p) {
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
	if s != nil {
		c.dropLaggingLocked(s)
	}
	c.mu.Unlock()
	if s != nil {
		s.leave()
		s.hub.remove(s)
		c.h.releaseHub(s.hub)
	}
	if e.Ref != "" {
		c.send(encode(&envelope{Op: opAck, Ref: e.Ref, Topic: e.Topic}))
	}
}

// forget takes s out of the connection's subscriptions and reports whether
// it was there. Whoever gets true owns the end of s: the reader giving it
// up, or the fan-out that failed under it.
func (c *Conn) forget(s *connSub) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs[s.topic] != s {
		return false
	}
	delete(c.subs, s.topic)
	c.dropLaggingLocked(s)
	return true
}

// dropLaggingLocked takes s out of the lagging subscriptions. c.mu is held.
func (c *Conn) dropLaggingLocked(s *connSub) {
	if i := slices.Index(c.lagging, s); i >= 0 {
		c.lagging = slices.Delete(c.lagging, i, i+1)
	}
}

func (c *Conn) publish(ctx context.Context, e *envelope) {
	if err := c.authorize(ctx, ActionPublish, e.Topic); err != nil {
		c.sendError(e.Ref, e.Topic, err)
		return
	}
	m := bus.Message{Topic: e.Topic, Type: e.Type, Data: e.data(), Meta: e.Meta}
	if c.h.OnPublish != nil {
		if err := c.h.OnPublish(ctx, c, &m); err != nil {
			if !errors.Is(err, bus.ErrInvalidMessage) {
				err = fmt.Errorf("%w: publish %q: %v", ErrForbidden, e.Topic, err)
			}
			c.sendError(e.Ref, e.Topic, err)
			return
		}
		m.Topic = e.Topic
	}
	m, err := c.h.Broker.Publish(ctx, e.Topic, m)
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

func (c *Conn) authorize(ctx context.Context, action Action, topic string) error {
	if c.h.Auth != nil {
		if err := c.h.Auth.Authorize(ctx, c.id, action, topic); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrForbidden, action, topic, err)
		}
	}
	if c.h.Authorize == nil {
		return nil
	}
	if err := c.h.Authorize(c.req, action, topic); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrForbidden, action, topic, err)
	}
	return nil
}

func (c *Conn) sendError(ref, topic string, err error) {
	code := errorCode(err)
	c.reportError(code, topic)
	if code == codeCursorExpired {
		if top, ok := bus.TopOf(err); ok {
			c.send(encode(&envelope{Op: opReset, Ref: ref, Topic: topic, Top: top, Message: err.Error()}))
			return
		}
	}
	msg := err.Error()
	if code == codeInternal {
		c.h.logger().Warn("ws: request failed", "topic", topic, "error", err)
		msg = "internal error"
	}
	c.send(encode(&envelope{Op: opError, Ref: ref, Topic: topic, Code: code, Message: msg}))
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

// The queue and the writer: frames for the client wait in a ring, which a
// writer goroutine drains while it is not empty. Live messages fill it up
// to liveLimit; a subscription whose message finds it that full falls
// behind: it leaves the fan-out and the writer feeds it from the broker's
// history, a batch per turn, until it has caught up and rejoins.

// send queues a text frame without waiting. It is for the protocol's own
// replies (acks, errors, resets), which the reader's flow control bounds
// (see waitRoom); they never close the connection.
func (c *Conn) send(p []byte) {
	c.mu.Lock()
	if !c.closing {
		c.pushLocked(frame{p: p})
	}
	c.mu.Unlock()
}

// sendMessage queues the message frame p of s's topic and reports true, or,
// when live messages already fill the queue up to liveLimit, reports false
// and marks s as lagging: the caller (the fan-out, holding hub.mu) takes s
// out of the fan-out and the writer feeds it from history after s.last.
func (c *Conn) sendMessage(s *connSub, p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return true // nothing is written any more; the teardown ends s
	}
	if c.n >= c.liveLimit() {
		s.lagSince = c.takes
		c.lagging = append(c.lagging, s)
		c.kickLocked()
		return false
	}
	c.pushLocked(frame{p: p, topic: s.topic})
	return true
}

// liveLimit is how many frames the fan-out may fill the queue with; the
// rest of QueueSize is left for replies and for Send.
func (c *Conn) liveLimit() int {
	q := c.h.queueSize()
	return max(q-q/4, 1)
}

// sendWait queues p once the queue is less than half full, so that replayed
// history leaves room for live messages. It reports false when the
// connection is closing or ctx ends. Only the reader calls it.
func (c *Conn) sendWait(ctx context.Context, topic string, p []byte) bool {
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return false
		}
		if c.roomLocked() {
			c.pushLocked(frame{p: p, topic: topic})
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		select {
		case <-c.space:
		case <-ctx.Done():
			return false
		}
	}
}

// pushLocked queues f, growing the ring when it is full; the callers
// bound how full it gets. c.mu is held and c is not closing.
func (c *Conn) pushLocked(f frame) {
	if c.n == len(c.queue) {
		// Grow the ring; it starts small because most connections are
		// idle most of the time.
		q := make([]frame, max(2*len(c.queue), minQueue))
		for i := range c.n {
			q[i] = c.queue[(c.head+i)%len(c.queue)]
		}
		c.queue, c.head = q, 0
	}
	c.queue[(c.head+c.n)%len(c.queue)] = f
	c.n++
	c.kickLocked()
}

// roomLocked reports whether the queue is less than half full: the share
// of the queue that the connection's own requests (their replies, the
// history they replay) may fill, so that the other half is left for live
// messages. c.mu is held.
func (c *Conn) roomLocked() bool {
	return c.n < max(c.h.queueSize()/2, 1)
}

// kickLocked starts the writer unless it runs, and wakes it when it waits
// for frames. The writer goroutine exists only while there is something to
// write, or was a moment ago (writerLinger), so an idle connection costs
// one goroutine (its reader) and a busy one does not start a goroutine per
// message. c.mu is held.
func (c *Conn) kickLocked() {
	if c.writing {
		if c.idle {
			c.idle = false
			c.kick <- struct{}{} // never blocks: one token per wait
		}
		return
	}
	if c.done {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop()
}

// writerLinger is how long, at least, the writer waits for more frames
// before its goroutine ends (at most twice as long).
const writerLinger = 250 * time.Millisecond

// waitFramesLocked parks the writer until kickLocked wakes it: for more
// frames, for the connection's end, or because the linger timer found it
// idle since its last look (then quit is set). A wait is a plain channel
// receive; the timer runs once per writerLinger while the writer lives,
// not once per wait. c.mu is held on entry and on return.
func (c *Conn) waitFramesLocked() {
	if c.kick == nil {
		c.kick = make(chan struct{}, 1)
	}
	if !c.lingering {
		c.lingering, c.lingerTakes = true, c.takes
		if c.ltimer == nil {
			c.ltimer = time.AfterFunc(writerLinger, c.lingerCheck)
		} else {
			c.ltimer.Reset(writerLinger)
		}
	}
	c.idle = true
	c.mu.Unlock()
	<-c.kick
	c.mu.Lock()
}

// lingerCheck runs on the linger timer: it tells a writer that has waited
// with nothing to write since the timer's last run to end, and otherwise
// looks again later while the writer lives.
func (c *Conn) lingerCheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.done || !c.writing:
		c.lingering = false
	case c.idle && c.takes == c.lingerTakes:
		c.lingering = false
		c.quit = true
		c.kickLocked()
	default:
		c.lingerTakes = c.takes
		c.ltimer.Reset(writerLinger)
	}
}

// wake tells a reader waiting for room (waitRoom, sendWait) to look again.
func (c *Conn) wake() {
	select {
	case c.space <- struct{}{}:
	default:
	}
}

// writeLoop is the writer. Each turn it takes every queued frame and
// writes them, envelopes coalesced into batch frames, then feeds one
// lagging subscription one batch from history. So a topic that falls
// behind gets its share of the connection, and holds no other topic back.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	ctx := context.WithoutCancel(c.req.Context()) // never cancelled: the watchdog bounds writes
	w := writer{c: c}
	c.mu.Lock()
	for {
		if c.closing {
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			if code != 0 {
				// The closing handshake reads br too.
				c.brMu.Lock()
				c.watch(true)
				c.ws.Close(code, reason)
				c.watch(false)
				c.brMu.Unlock()
			}
			return
		}
		if c.n == 0 && len(c.lagging) == 0 {
			if c.done || c.quit {
				c.quit = false
				c.writing = false
				if len(c.queue) > minQueue {
					// Idle now: give a burst's ring back. A connection that
					// is written all the time keeps its ring instead of
					// growing a new one after every take.
					c.queue, c.head = nil, 0
				}
				if !c.done {
					// Idle now: keep no timer or channel for the next writer.
					c.kick, c.ltimer = nil, nil
				}
				c.mu.Unlock()
				return
			}
			c.waitFramesLocked()
			continue
		}
		if d := c.h.WriteDelay; d > 0 {
			// Let what arrives within WriteDelay of the last write share
			// the next one.
			if wait := time.Until(c.lastWrite.Add(d)); wait > 0 {
				c.mu.Unlock()
				time.Sleep(wait)
				c.mu.Lock()
				continue
			}
		}
		w.frames = w.frames[:0]
		for c.n > 0 {
			w.frames = append(w.frames, c.queue[c.head])
			c.queue[c.head] = frame{}
			c.head = (c.head + 1) % len(c.queue)
			c.n--
		}
		c.takes++
		c.quit = false
		// A subscription that fell behind before this take has all its
		// queued messages in it: its history may follow them.
		s := c.nextLaggingLocked()
		c.mu.Unlock()
		c.wake()
		if err := w.frames2wire(ctx); err != nil {
			c.abort()
			return
		}
		if c.h.WriteDelay > 0 {
			c.lastWrite = time.Now()
		}
		if s != nil {
			if err := c.catchUp(ctx, &w, s); err != nil {
				c.abort()
				return
			}
		}
		c.mu.Lock()
	}
}

// nextLaggingLocked returns the lagging subscription to feed this turn,
// in turn, or nil. Only subscriptions that fell behind before the writer's
// last take are eligible. c.mu is held.
func (c *Conn) nextLaggingLocked() *connSub {
	for range len(c.lagging) {
		if c.next >= len(c.lagging) {
			c.next = 0
		}
		s := c.lagging[c.next]
		c.next++
		if s.lagSince < c.takes {
			return s
		}
	}
	return nil
}

// catchUp writes the next batch of history after s.last and rejoins s to
// the fan-out once it has caught up. It returns only write errors; a
// subscription the broker cannot serve any more ends with a reset or an
// error frame.
func (c *Conn) catchUp(ctx context.Context, w *writer, s *connSub) error {
	hb := s.hub
	hb.mu.Lock()
	after := s.last
	hb.mu.Unlock()
	msgs, err := c.h.Broker.Read(c.ctx, s.topic, after.ID(), catchUpBatch)
	if err != nil {
		c.endLagging(s, after, err)
		return nil
	}
	last := after
	if len(msgs) > 0 {
		if last, err = bus.ParseID(msgs[len(msgs)-1].ID); err != nil {
			c.endLagging(s, after, fmt.Errorf("ws: topic %q: the broker returned a message without a valid ID: %w", s.topic, err))
			return nil
		}
		w.frames = w.frames[:0]
		for i := range msgs {
			p, _ := c.h.cache.Get(&msgs[i], encodeCached)
			w.frames = append(w.frames, frame{p: p, topic: s.topic})
		}
		if err := w.frames2wire(ctx); err != nil {
			return err
		}
		s.empty = 0
	} else if s.empty++; s.empty > maxEmptyCatchUps {
		c.endLagging(s, after, fmt.Errorf("ws: topic %q: the broker has nothing after %q but the fan-out is ahead", s.topic, after.ID()))
		return nil
	}
	joined, err := hb.advance(s, last)
	if err != nil {
		c.endLagging(s, last, err)
		return nil
	}
	c.wake() // the messages s owed the reader are written
	if joined {
		c.mu.Lock()
		c.dropLaggingLocked(s)
		c.mu.Unlock()
	}
	return nil
}

// endLagging ends the lagging subscription s with err: a reset when its
// cursor expired, an error frame otherwise. It is a no-op when s has
// already ended.
func (c *Conn) endLagging(s *connSub, last bus.Position, err error) {
	if !c.forget(s) {
		return
	}
	s.leave()
	s.hub.remove(s)
	c.h.releaseHub(s.hub)
	c.sendError("", s.topic, withTop(c.ctx, c.h.Broker, s.topic, last.ID(), err))
}

// A writer writes frames for the writer goroutine, coalescing envelopes
// into batch frames.
type writer struct {
	c      *Conn
	frames []frame // to write
}

// batchBufs holds the buffers batch frames are built in, shared by the
// connections: one is taken for each batch frame and given back once the
// frame is written, so that a busy connection allocates none and an idle
// one holds none.
var batchBufs sync.Pool

// frames2wire writes w.frames in order and empties it. Consecutive
// envelopes share one batch frame of at most c.batch bytes.
func (w *writer) frames2wire(ctx context.Context) error {
	c := w.c
	fs := w.frames
	defer func() {
		clear(fs)
		w.frames = fs[:0]
	}()
	for i := 0; i < len(fs); {
		j, size := i+1, len(fs[i].p)
		if !fs[i].raw {
			for j < len(fs) && !fs[j].raw && size+1+len(fs[j].p) <= c.batch {
				size += 1 + len(fs[j].p)
				j++
			}
		}
		typ, p := websocket.MessageText, fs[i].p
		if fs[i].bin {
			typ = websocket.MessageBinary
		}
		var bp *[]byte
		if j > i+1 {
			bp, _ = batchBufs.Get().(*[]byte)
			if bp == nil || cap(*bp) < size {
				b := make([]byte, 0, max(size, c.batch))
				bp = &b
			}
			b := (*bp)[:0]
			for _, f := range fs[i:j] {
				b = appendBatch(b, f.p)
			}
			p = b
		}
		c.watch(true)
		err := c.ws.Write(ctx, typ, p)
		c.watch(false)
		if bp != nil {
			batchBufs.Put(bp) // Write copied p into the connection's buffer
		}
		if err != nil {
			return err
		}
		c.written.Add(1)
		c.delivered(fs[i:j])
		i = j
	}
	return nil
}

// watch marks the start (on) or end of a write for the write watchdog,
// which aborts a connection whose write moved no byte for WriteTimeout: a
// peer that stopped reading. A write costs the watchdog a few atomic
// operations; its timer, set by the first write, runs on while writes keep
// coming and lapses once it finds none under way.
func (c *Conn) watch(on bool) {
	if !on {
		c.wbusy.Store(false)
		return
	}
	// wstart before wsent: writeStuck, seeing this wsent, sees this wstart.
	c.wstart.Store(time.Now().UnixNano())
	c.wsent.Store(c.netConn.sent.Load())
	c.wbusy.Store(true)
	if !c.warmed.Load() {
		c.armWatchdog(c.h.writeTimeout())
	}
}

// armWatchdog sets the watchdog's timer to fire in d unless it is set.
func (c *Conn) armWatchdog(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.warmed.Load() {
		return
	}
	c.warmed.Store(true)
	if c.wtimer == nil {
		c.wtimer = time.AfterFunc(d, c.writeStuck)
		return
	}
	c.wtimer.Reset(d)
}

// writeStuck runs on the watchdog's timer. It cuts the connection when
// the write under way has moved no byte for WriteTimeout; otherwise it
// looks again later, or lets the timer lapse when no write is under way.
func (c *Conn) writeStuck() {
	wt := c.h.writeTimeout()
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	if !c.wbusy.Load() {
		c.warmed.Store(false)
		c.mu.Unlock()
		// A write that began meanwhile may have seen the timer still set.
		if c.wbusy.Load() {
			c.armWatchdog(wt)
		}
		return
	}
	start := c.wstart.Load()
	if since := time.Duration(time.Now().UnixNano() - start); since < wt {
		c.wtimer.Reset(wt - since) // a write that began lately
		c.mu.Unlock()
		return
	}
	sent, wsent := c.netConn.sent.Load(), c.wsent.Load()
	if c.wstart.Load() != start {
		// Another write began meanwhile: it has a window of its own.
		c.wtimer.Reset(wt)
		c.mu.Unlock()
		return
	}
	if sent != wsent {
		c.wsent.Store(sent)
		c.wstart.Store(time.Now().UnixNano())
		c.wtimer.Reset(wt)
		c.mu.Unlock()
		return
	}
	if !c.closing {
		c.closing = true
		c.closeCode, c.closeReason = CloseSlowConsumer, "write timeout"
	}
	c.mu.Unlock()
	c.h.logger().Debug("ws: write timeout, closing", "remote_addr", c.req.RemoteAddr)
	c.abort()
}

// Keepalive.

// schedulePing arms the next ping. c.mu is held.
func (c *Conn) schedulePingLocked(ctx context.Context) {
	d := c.h.pingInterval()
	if d < 0 || c.done {
		return
	}
	if c.ptimer == nil {
		c.ptimer = time.AfterFunc(d, func() { c.ping(ctx) })
		return
	}
	c.ptimer.Reset(d)
}

func (c *Conn) ping(ctx context.Context) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	written := c.written.Load()
	if written != c.pinged {
		// Frames went out since the last ping: the peer takes them, or
		// the write watchdog will cut it. A ping would only wait behind
		// them (and websocket.Conn drops a connection whose control
		// frame cannot be written within 5 s).
		c.pinged = written
		c.mu.Lock()
		c.schedulePingLocked(ctx)
		c.mu.Unlock()
		return
	}
	pctx, cancel := context.WithTimeout(ctx, c.h.pongTimeout())
	err := c.ws.Ping(pctx)
	cancel()
	// A peer that took frames meanwhile is alive, only behind them: its
	// pong is queued behind what it has yet to read.
	if err != nil && c.written.Load() == written {
		c.h.logger().Debug("ws: no pong, closing", "remote_addr", c.req.RemoteAddr, "error", err)
		c.abort()
		return
	}
	c.mu.Lock()
	c.schedulePingLocked(ctx)
	c.mu.Unlock()
}

// Closing.

func (c *Conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

// closeLocked drops the queued frames and has the writer close the
// connection with code. The first reason given wins.
func (c *Conn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	clear(c.queue)
	c.n = 0
	select {
	case c.space <- struct{}{}:
	default:
	}
	c.kickLocked()
}

// abort closes the connection at once, without the closing handshake.
func (c *Conn) abort() {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		clear(c.queue)
		c.n = 0
	}
	c.mu.Unlock()
	select {
	case c.space <- struct{}{}: // wake a replay waiting for room
	default:
	}
	c.netConn.Close()
}

// teardown ends the subscriptions and the goroutines of the connection.
func (c *Conn) teardown() {
	c.mu.Lock()
	c.done = true
	c.closing = true
	c.kickLocked() // a writer waiting for frames ends now
	subs := c.subs
	c.subs = nil
	if c.ptimer != nil {
		c.ptimer.Stop()
	}
	if c.etimer != nil {
		c.etimer.Stop()
	}
	if c.wtimer != nil {
		c.wtimer.Stop()
	}
	if c.ltimer != nil {
		c.ltimer.Stop()
	}
	c.lagging = nil
	c.mu.Unlock()
	c.cancel()
	for _, s := range subs {
		s.leave()
		s.hub.remove(s)
		c.h.releaseHub(s.hub)
	}
	c.abort()
	c.ws.CloseNow()
	c.wg.Wait()
}
