package ws

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
)

// minQueue is the initial capacity of a connection's queue.
const minQueue = 4

// maxMalformed is how many malformed frames in a row a connection may send
// before it is closed with StatusPolicyViolation.
const maxMalformed = 16

// A Conn is one client connection of a Handler, as seen by
// Handler.OnMessage. Its methods are safe for concurrent use.
type Conn struct {
	h   *Handler
	ws  *websocket.Conn
	req *http.Request

	netConn net.Conn // the hijacked connection: closing it aborts everything

	mu          sync.Mutex
	queue       []frame // ring buffer, grown up to QueueSize frames
	head, n     int
	writing     bool // a writer goroutine runs
	closing     bool // no more frames are queued
	done        bool // serve is tearing down: no more goroutines
	closeCode   websocket.StatusCode
	closeReason string
	subs        map[string]*connSub
	owing       []*connSub  // subscriptions owed messages c published; the reader's only
	wtimer      *time.Timer // write watchdog
	ptimer      *time.Timer // next ping
	space       chan struct{}
	wg          sync.WaitGroup
}

type frame struct {
	p   []byte
	bin bool
}

func newConn(h *Handler, wc *websocket.Conn, nc net.Conn, r *http.Request) *Conn {
	return &Conn{h: h, ws: wc, netConn: nc, req: r, space: make(chan struct{}, 1)}
}

// hijackRecorder remembers the connection websocket.Accept hijacks, so that
// the Handler can always close it at once. (websocket.Conn.CloseNow waits
// for a closing handshake in progress instead.)
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.conn = c
	return c, brw, err
}

// Request returns the upgrade request. Its Context must not be used: the
// connection outlives it.
func (c *Conn) Request() *http.Request { return c.req }

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
	if !c.pushLocked(frame{p: p, bin: typ == websocket.MessageBinary}) {
		return bus.ErrSlowConsumer
	}
	return nil
}

// Close closes the connection with code and reason after the frames
// already queued are written. It does not wait.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.closeWith(code, reason)
}

// send queues a text frame without waiting; see Send.
func (c *Conn) send(p []byte) {
	c.mu.Lock()
	if !c.closing {
		c.pushLocked(frame{p: p})
	}
	c.mu.Unlock()
}

// pushLocked queues f, or closes the connection as a slow consumer when
// the queue is full. c.mu is held and c is not closing.
func (c *Conn) pushLocked(f frame) bool {
	if c.n == len(c.queue) {
		limit := c.h.queueSize()
		if c.n >= limit {
			c.closeLocked(CloseSlowConsumer, "slow consumer")
			return false
		}
		// Grow the ring; it starts small because most connections are
		// idle most of the time.
		q := make([]frame, min(max(2*len(c.queue), minQueue), limit))
		for i := range c.n {
			q[i] = c.queue[(c.head+i)%len(c.queue)]
		}
		c.queue, c.head = q, 0
	}
	c.queue[(c.head+c.n)%len(c.queue)] = f
	c.n++
	c.kickLocked()
	return true
}

// roomLocked reports whether the queue is less than half full: the share
// of the queue that the connection's own requests (their replies, the
// history they replay) may fill, so that the other half is left for live
// messages. c.mu is held.
func (c *Conn) roomLocked() bool {
	return c.n < max(c.h.queueSize()/2, 1)
}

// sendWait queues p once the queue is less than half full, so that replayed
// history leaves room for live messages. It reports false when the
// connection is closing or ctx ends. Only the reader calls it.
func (c *Conn) sendWait(ctx context.Context, p []byte) bool {
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return false
		}
		if c.roomLocked() {
			c.pushLocked(frame{p: p})
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

// kickLocked starts the writer unless it runs. The writer goroutine exists
// only while there is something to write, so an idle connection costs one
// goroutine (its reader).
func (c *Conn) kickLocked() {
	if c.writing || c.done {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop()
}

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

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	ctx := context.WithoutCancel(c.req.Context()) // never cancelled: the watchdog bounds writes
	for {
		c.mu.Lock()
		if c.closing {
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			if code != 0 {
				c.watch(true)
				c.ws.Close(code, reason)
				c.watch(false)
			}
			return
		}
		if c.n == 0 {
			c.writing = false
			if len(c.queue) > minQueue {
				c.queue, c.head = nil, 0 // a burst is over: give its memory back
			}
			c.mu.Unlock()
			return
		}
		f := c.queue[c.head]
		c.queue[c.head] = frame{}
		c.head = (c.head + 1) % len(c.queue)
		c.n--
		c.mu.Unlock()
		select {
		case c.space <- struct{}{}:
		default:
		}
		typ := websocket.MessageText
		if f.bin {
			typ = websocket.MessageBinary
		}
		c.watch(true)
		err := c.ws.Write(ctx, typ, f.p)
		c.watch(false)
		if err != nil {
			c.abort()
			return
		}
	}
}

// watch arms or disarms the write watchdog, which aborts a connection
// whose write takes longer than WriteTimeout: a peer that stopped reading.
func (c *Conn) watch(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !on {
		if c.wtimer != nil {
			c.wtimer.Stop()
		}
		return
	}
	if c.wtimer == nil {
		c.wtimer = time.AfterFunc(c.h.writeTimeout(), c.writeStuck)
		return
	}
	c.wtimer.Reset(c.h.writeTimeout())
}

func (c *Conn) writeStuck() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	if !c.closing {
		c.closing = true
		c.closeCode, c.closeReason = CloseSlowConsumer, "write timeout"
	}
	c.mu.Unlock()
	c.h.logger().Debug("ws: write timeout, closing", "remote", c.req.RemoteAddr)
	c.abort()
}

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
	pctx, cancel := context.WithTimeout(ctx, c.h.pongTimeout())
	err := c.ws.Ping(pctx)
	cancel()
	if err != nil {
		c.h.logger().Debug("ws: no pong, closing", "remote", c.req.RemoteAddr, "err", err)
		c.abort()
		return
	}
	c.mu.Lock()
	c.schedulePingLocked(ctx)
	c.mu.Unlock()
}

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
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.h.logger().Debug("ws: connection ends", "remote", c.req.RemoteAddr, "err", err)
			break
		}
		if c.h.OnMessage != nil && c.h.OnMessage(ctx, c, typ, data) {
			continue
		}
		switch {
		case typ != websocket.MessageText:
			c.closeWith(websocket.StatusUnsupportedData, "binary frames are not part of "+Subprotocol)
		case !utf8.Valid(data):
			c.closeWith(websocket.StatusInvalidFramePayloadData, "text frame is not UTF-8")
		case c.handle(ctx, data):
			malformed = 0
		default:
			if malformed++; malformed >= maxMalformed {
				c.closeWith(websocket.StatusPolicyViolation, "too many malformed frames")
			}
		}
	}
	c.teardown()
}

// teardown ends the subscriptions and the goroutines of the connection.
func (c *Conn) teardown() {
	c.mu.Lock()
	c.done = true
	c.closing = true
	subs := c.subs
	c.subs = nil
	if c.ptimer != nil {
		c.ptimer.Stop()
	}
	if c.wtimer != nil {
		c.wtimer.Stop()
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.hub.remove(s)
		c.h.releaseHub(s.hub)
	}
	c.abort()
	c.ws.CloseNow()
	c.wg.Wait()
}
