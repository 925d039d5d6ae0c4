package sse

import (
	"net"
	"syscall"
)

// A connWatch notices that the client of a hijacked stream closed its
// connection: gone is closed and onGone called then. On Linux the
// Handler's poller watches the connections of all its streams at once;
// elsewhere, and for connections without a file descriptor, a goroutine
// per stream (watch) reads the connection.
type connWatch struct {
	gone   chan struct{}
	onGone func()          // called once gone is closed; it must not block
	p      *poller         // nil: watch reads the connection
	id     uint64          // the connection's key in p
	raw    syscall.RawConn // the connection's file descriptor, for p
}

// watchConn starts watching conn; onGone is called when its client hangs
// up. The caller calls stop before it closes conn, then wait after.
func (h *Handler) watchConn(conn net.Conn, onGone func()) *connWatch {
	w := &connWatch{gone: make(chan struct{}), onGone: onGone}
	if raw, ok := connRaw(conn); ok {
		p := h.pollerRef()
		if p != nil && p.add(w, raw) {
			return w
		}
		if p != nil {
			h.pollerUnref(p)
		}
	}
	go watch(conn, w)
	return w
}

// stop ends the watch of a connection that is about to be closed, before
// its file descriptor can be reused.
func (w *connWatch) stop() {
	if w.p != nil {
		w.p.remove(w)
	}
}

// wait returns once the watch has ended; the connection is closed.
func (h *Handler) waitWatch(w *connWatch) {
	if w.p == nil {
		<-w.gone // closing the connection ended watch's read
		return
	}
	h.pollerUnref(w.p)
}

// pollerRef returns the Handler's poller, starting it for the first
// stream, and counts a reference to it; nil where there is none.
func (h *Handler) pollerRef() *poller {
	h.pollMu.Lock()
	defer h.pollMu.Unlock()
	if h.poll == nil {
		p, err := newPoller()
		if err != nil {
			return nil
		}
		h.poll = p
		go p.run()
	}
	h.poll.refs++
	return h.poll
}

// pollerUnref drops a reference to p; after the last it stops p and waits
// for its goroutine, so that no goroutine outlives the last stream.
func (h *Handler) pollerUnref(p *poller) {
	h.pollMu.Lock()
	p.refs--
	last := p.refs == 0
	if last && h.poll == p {
		h.poll = nil // the next stream starts a new one
	}
	h.pollMu.Unlock()
	if last {
		p.close()
	}
}

// hungUp tells the stream, then closes gone (which the stream's end may
// wait for, so nothing of the watch runs after it).
func (w *connWatch) hungUp() {
	w.onGone()
	close(w.gone)
}

// watch reads a hijacked connection until it ends and then reports it,
// so a client that closes its connection ends its stream at once, as
// net/http's own background read does for a stream on a ResponseWriter.
// A client sends nothing after its request: whatever comes is dropped.
// The read ends with the connection, which the stream closes when it
// ends.
func watch(c net.Conn, w *connWatch) {
	defer w.hungUp()
	var b [64]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}
