package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"slices"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, c.URL, &websocket.DialOptions{
		HTTPClient:   c.HTTPClient,
		HTTPHeader:   c.Header,
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			// websocket.Dial left the start of the body in resp.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, retry.MaxBody))
			st := retry.ReadStatus(resp, body, time.Now())
			return nil, fmt.Errorf("ws: dial %s: %w", c.URL, &StatusError{
				StatusCode: st.StatusCode, Code: st.Code, Message: st.Message, RetryAfter: st.RetryAfter, Err: err,
			})
		}
		return nil, fmt.Errorf("ws: dial %s: %w", c.URL, err)
	}
	if conn.Subprotocol() != Subprotocol {
		conn.Close(websocket.StatusProtocolError, "subprotocol "+Subprotocol+" required")
		return nil, fmt.Errorf("ws: dial %s: server did not accept subprotocol %s", c.URL, Subprotocol)
	}
	limit := c.ReadLimit
	if limit <= 0 {
		limit = DefaultClientLimit
	}
	conn.SetReadLimit(limit)
	return conn, nil
}

// checkURL reports an address the Client can never connect to.
func checkURL(s string) error {
	u, err := neturl.Parse(s)
	if err != nil {
		return fmt.Errorf("ws: dial: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
		return nil
	}
	return fmt.Errorf("ws: dial %s: scheme %q is not ws, wss, http or https", s, u.Scheme)
}

// retryable reports whether a failed dial may succeed when tried again,
// and the wait the server asked for.
func retryable(err error) (again bool, retryAfter time.Duration) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary(), se.RetryAfter
	}
	return true, 0
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// run serves connections and reconnects until Close.
func (c *Client) run(ctx context.Context, conn *websocket.Conn) {
	defer c.wg.Done()
	b := c.backOff()
	for {
		err := c.serveReported(ctx, conn)
		conn.CloseNow()
		c.disconnected()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, websocket.ErrMessageTooBig) {
			// The server sent a frame over ReadLimit. Resuming would
			// fetch the same frame again, forever: stop instead.
			c.logger().Warn("ws: frame over ReadLimit, giving up", "url", c.URL, "error", err)
			c.fail(fmt.Errorf("ws: a frame from the server exceeds Client.ReadLimit: %w", err))
			return
		}
		c.logger().Debug("ws: connection lost, reconnecting", "url", c.URL, "error", err)
		conn = nil
		wait := b.NextBackOff()
		for conn == nil {
			if sleep(ctx, wait) != nil {
				return
			}
			dctx, cancel := context.WithTimeout(ctx, c.writeTimeout())
			conn, err = c.dial(dctx)
			cancel()
			if err == nil {
				break
			}
			again, retryAfter := retryable(err)
			if !again {
				// Refused for good (revoked credentials, a removed
				// route): retrying cannot help.
				c.logger().Warn("ws: reconnect refused, giving up", "url", c.URL, "error", err)
				c.fail(err)
				return
			}
			c.logger().Debug("ws: reconnect failed", "url", c.URL, "error", err)
			wait = retry.Wait(b.NextBackOff(), retryAfter)
		}
		if c.progress.Swap(false) {
			// The last connection delivered frames: start the backoff
			// afresh. One that broke before any frame keeps growing it,
			// so a server that drops every connection is not hammered.
			b.Reset()
		}
	}
}

// serve subscribes every topic again from its cursor, sends the publishes
// still waiting, then reads frames until the connection fails.
func (c *Client) serve(ctx context.Context, conn *websocket.Conn) error {
	c.mu.Lock()
	c.conn = conn
	c.gen++
	gen := c.gen
	var frames [][]byte
	for _, s := range c.subs {
		ref := ""
		if s.op != nil {
			ref = s.ref
		}
		frames = append(frames, encode(&envelope{Op: opSubscribe, Ref: ref, Topic: s.topic, After: s.track.Cursor()}))
		s.sentGen = gen
	}
	var unsent []*op
	for _, o := range c.ops {
		if o.sub == nil && o.sentGen == 0 {
			unsent = append(unsent, o)
		}
	}
	slices.SortFunc(unsent, func(a, b *op) int { return int(a.seq - b.seq) })
	for _, o := range unsent {
		o.sentGen = gen
		frames = append(frames, o.frame)
	}
	c.mu.Unlock()
	for _, p := range frames {
		if err := c.write(ctx, conn, p); err != nil {
			return err
		}
	}
	// Reads get a context that is never done: on one that can be,
	// coder/websocket sets up and tears down a cancellation hook for every
	// frame. Close ends a read by closing the connection instead.
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	defer stop()
	rctx := context.WithoutCancel(ctx)
	buf := make([]byte, 0, 512)
	for {
		p, err := readMessage(rctx, conn, buf[:0])
		if err != nil {
			return err
		}
		err = eachEnvelope(p, func(e []byte) error { return c.dispatch(ctx, e) })
		if err != nil {
			err = fmt.Errorf("ws: from server: %w", err)
			conn.Close(websocket.StatusProtocolError, "protocol error")
			return err
		}
		c.progress.Store(true)
		// Frames are decoded into envelopes of their own, so the next
		// one may reuse the storage, unless a rare large frame grew it.
		if cap(p) <= maxReadBuffer {
			buf = p
		}
	}
}

// maxReadBuffer is the largest read buffer a connection keeps between
// frames.
const maxReadBuffer = 64 << 10

// readMessage appends the next message of conn to buf, as conn.Read reads
// it: at most the read limit, or an error wrapping
// websocket.ErrMessageTooBig.
func readMessage(ctx context.Context, conn *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := conn.Reader(ctx)
	if err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // room to read into
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *Client) write(ctx context.Context, conn *websocket.Conn, p []byte) error {
	// The write must not inherit the caller's cancellation: an expiring
	// context closes the connection in the middle of a frame.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.writeTimeout())
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, p)
}

// disconnected fails the publishes sent on the lost connection.
func (c *Client) disconnected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = nil
	for ref, o := range c.ops {
		if o.sub == nil && o.sentGen != 0 {
			delete(c.ops, ref)
			o.res <- opResult{err: fmt.Errorf("publish to %q: %w", o.topic, ErrNoAck)}
		}
	}
}

// dispatch handles one envelope from the server.
func (c *Client) dispatch(ctx context.Context, p []byte) error {
	e, err := decodeEnvelope(p)
	if err != nil {
		return err
	}
	switch e.Op {
	case opMessage:
		c.mu.Lock()
		s := c.subs[e.Topic]
		// The server acks a subscribe before any of its messages, so a
		// message before the ack is for an earlier subscription of the
		// topic, closed by the client while the server was still sending.
		live := s != nil && s.ackedGen == c.gen
		c.mu.Unlock()
		if live {
			s.deliver(ctx, &e)
		}
	case opAck:
		c.mu.Lock()
		o := c.ops[e.Ref]
		if e.Ref != "" {
			delete(c.ops, e.Ref)
		}
		s := c.subs[e.Topic]
		// The ack of this subscription's subscribe: the one it waits for,
		// or a resubscribe after a reconnect (sent without a ref). A
		// publish always has a ref.
		mine := s != nil && (o != nil && o.sub == s || o == nil && e.Ref == "")
		if o != nil && o.sub != nil {
			o.sub.op = nil
		}
		if mine {
			s.ackedGen = c.gen
		}
		c.mu.Unlock()
		if mine {
			s.acked(e.ID)
		}
		if o != nil {
			o.res <- opResult{id: e.ID, time: e.Time}
		}
	case opError, opReset:
		if c.Metrics != nil && (e.Op == opReset || e.Code == codeCursorExpired) {
			c.Metrics.Record(metrics.Event{Kind: metrics.Reset, Transport: clientTransport, Topic: e.Topic})
		}
		var ferr error = &ServerError{Code: e.Code, Message: e.Message}
		if e.Op == opReset {
			ferr = &bus.CursorError{Topic: e.Topic, Top: e.Top, Err: bus.ErrCursorExpired}
		}
		c.mu.Lock()
		o := c.ops[e.Ref]
		if e.Ref != "" {
			delete(c.ops, e.Ref)
		}
		s := c.subs[e.Topic]
		c.mu.Unlock()
		if ce, ok := ferr.(*bus.CursorError); ok && s != nil {
			ce.Cursor = s.track.Cursor()
		}
		switch {
		case o != nil:
			o.res <- opResult{err: ferr}
		case s != nil:
			s.end(ferr, false)
		default:
			c.logger().Debug("ws: error frame", "topic", e.Topic, "error", ferr)
		}
	default:
		return fmt.Errorf("unexpected op %q", e.Op)
	}
	return nil
}
