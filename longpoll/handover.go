package longpoll

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// answerWriteTimeout bounds the write of the answer of a request held
// outside net/http.
const answerWriteTimeout = 10 * time.Second

// pastDeadline is a read deadline that has passed: it ends a pending Read.
var pastDeadline = time.Unix(1, 0)

// handOver takes r's connection out of net/http to hold r, when a listener
// of h accepted it (see Handler.Listener), and reports whether it did. A
// request over MaxHeld is left to ServeHTTP, which answers it 503.
func (h *Handler) handOver(w http.ResponseWriter, r *http.Request, st *state) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.Method != http.MethodGet ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	l := h.listenerOf(r)
	if l == nil {
		return false
	}
	if h.held.Load() >= h.maxHeld() {
		return false // answered 503 by ServeHTTP, as a connection it holds
	}
	hdr := w.Header().Clone()
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false // w cannot reach net/http's Hijacker; nothing was done
	}
	// Bytes the client sent after its request (pipelining) are in
	// net/http's buffer: the connection cannot be handed back without
	// them, so it is closed after the answer.
	keep := !r.Close && rw.Reader.Buffered() == 0 && l.takes(conn)
	// The connection and net/http's buffers are ours: drop the buffers.
	*rw.Reader = bufio.Reader{}
	*rw.Writer = bufio.Writer{}
	hc := &heldConn{conn: conn, l: l, hdr: hdr, keep: keep, remote: r.RemoteAddr}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	if !h.startHold(ctx, st, conn) {
		// MaxHeld reached since the check above.
		go func() {
			defer h.exit()
			defer cancel()
			h.answer(ctx, st, hc)
		}()
		return true
	}
	go h.hold(ctx, cancel, st, hc)
	return true
}

// A heldConn is the connection of a request held outside net/http.
type heldConn struct {
	conn   net.Conn
	l      *listener
	hdr    http.Header // set before ServeHTTP by middleware
	keep   bool        // the connection may serve another request
	remote string
}

// hold waits for st's answer on the held connection, noticing a client that
// closes it, then writes the answer and hands the connection back.
func (h *Handler) hold(ctx context.Context, cancel context.CancelFunc, st *state, hc *heldConn) {
	defer h.exit()
	defer cancel()
	w := st.w
	var b [1]byte
	for {
		// A notification sets the read deadline in the past after queueing
		// on w.ch; draining w.ch first and looking at it again after
		// setting the deadline loses none.
		select {
		case <-w.ch:
		default:
		}
		if !h.next(ctx, st) {
			break
		}
		if !time.Now().Before(w.deadline) {
			break // due; the hub's timer may be a little late
		}
		_ = hc.conn.SetReadDeadline(w.deadline)
		if len(w.ch) > 0 {
			continue
		}
		n, err := hc.conn.Read(b[:])
		if n > 0 {
			// The client sent more (pipelining): stop watching the
			// connection, wait for the answer alone, and close after it.
			hc.keep = false
			w.stopWatching()
			for h.next(ctx, st) {
				<-w.ch
			}
			break
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			st.err = errGone
			cancel()
			break
		}
	}
	w.stopWatching()
	h.endHold(st)
	if st.err == errGone {
		hc.conn.Close()
		return
	}
	h.answer(ctx, st, hc)
}

// answer writes the answer of st on its held connection and hands the
// connection back, or closes it.
func (h *Handler) answer(ctx context.Context, st *state, hc *heldConn) {
	resp := &connResponse{hdr: hc.hdr}
	r := (&http.Request{Method: http.MethodGet, RemoteAddr: hc.remote}).WithContext(ctx)
	h.finish(resp, r, st)
	if resp.hdr.Get("Connection") == "close" {
		hc.keep = false
	}
	if !hc.keep {
		resp.hdr.Set("Connection", "close")
	}
	_ = hc.conn.SetDeadline(time.Now().Add(answerWriteTimeout))
	_, err := hc.conn.Write(resp.appendTo(nil))
	_ = hc.conn.SetDeadline(time.Time{})
	switch {
	case err != nil:
		hc.conn.Close()
	case !hc.keep:
		closeAfterAnswer(hc.conn)
	default:
		hc.l.handBack(hc.conn)
	}
}

// closeAfterAnswer closes c once its client has read the answer. Closing a
// TCP connection with unread bytes (a pipelined request) resets it, and a
// reset can reach the client before it read the answer: so, as net/http
// does, it first ends the sending side, then reads until the client
// closes, or for lingerTimeout at most.
func closeAfterAnswer(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.Copy(io.Discard, c)
	}
	c.Close()
}

// lingerTimeout bounds closeAfterAnswer's wait for the client to close.
const lingerTimeout = 500 * time.Millisecond

// listenerOf returns the listener of h that accepted r's connection, or nil.
func (h *Handler) listenerOf(r *http.Request) *listener {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	for _, l := range h.lns {
		if l.serves(addr) {
			return l
		}
	}
	return nil
}

// connResponse is the http.ResponseWriter of an answer written on a held
// connection: it keeps the status, the header and the body.
type connResponse struct {
	hdr    http.Header
	status int
	body   []byte
}

func (c *connResponse) Header() http.Header { return c.hdr }

func (c *connResponse) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *connResponse) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	c.body = append(c.body, p...)
	return len(p), nil
}

// appendTo appends the HTTP/1.1 response to dst.
func (c *connResponse) appendTo(dst []byte) []byte {
	c.WriteHeader(http.StatusOK)
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(c.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(c.status)...)
	dst = append(dst, "\r\n"...)
	c.hdr.Set("Content-Length", strconv.Itoa(len(c.body)))
	if _, ok := c.hdr["Date"]; !ok {
		c.hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	buf := bufferWriter{dst}
	_ = c.hdr.Write(&buf)
	dst = append(buf.b, "\r\n"...)
	return append(dst, c.body...)
}

type bufferWriter struct{ b []byte }

func (w *bufferWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
