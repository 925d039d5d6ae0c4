package sse

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// A stream is one open event stream, run on the ServeHTTP goroutine; a
// hijacked one also has watch reading its connection.
type stream struct {
	h     *Handler
	w     http.ResponseWriter
	rc    *http.ResponseController
	sub   bus.Subscription
	topic string
	last  time.Time       // of the last write
	conn  net.Conn        // the hijacked connection, or nil
	gone  <-chan struct{} // closed when watch has seen conn end; nil if not hijacked
	// expires is when the stream's identity expires; zero means never.
	expires time.Time
	why     string // why the stream ended, for Metrics
}

// maxBatch bounds the messages written between two flushes (on a hijacked
// connection: in one writev, whose iovec array the runtime keeps per
// connection).
const maxBatch = 16

var heartbeatLine = []byte(":\n")

func (s *stream) run(ctx context.Context, prelude []byte) {
	if s.h.Metrics != nil {
		defer s.closed(s.opened())
	}
	// The server ends the response after ServeHTTP returns: give that
	// write a fresh deadline too.
	defer s.deadline()
	if err := s.write(prelude); err != nil {
		s.why = s.writeFailed(err)
		return
	}
	hb := s.h.heartbeat()
	var tickC <-chan time.Time
	var timer *time.Timer
	if hb > 0 {
		timer = time.NewTimer(hb)
		defer timer.Stop()
		tickC = timer.C
	}
	var lifeC <-chan time.Time
	if l := s.h.MaxLifetime; l > 0 {
		life := time.NewTimer(l - rand.N(l/5+1))
		defer life.Stop()
		lifeC = life.C
	}
	var expC <-chan time.Time
	if !s.expires.IsZero() {
		// The client reconnects with its cursor, and has to present fresh
		// credentials to be let in again.
		exp := time.NewTimer(time.Until(s.expires))
		defer exp.Stop()
		expC = exp.C
	}
	for {
		select {
		case m, ok := <-s.sub.C():
			if !ok {
				s.ended(ctx)
				return
			}
			if err := s.messages(&m); err != nil {
				s.why = s.writeFailed(err)
				return
			}
		case <-tickC:
			// The timer is not reset on every message; it checks when the
			// stream last wrote instead.
			if time.Since(s.last) >= hb {
				if err := s.write(heartbeatLine); err != nil {
					s.why = s.writeFailed(err)
					return
				}
			}
			timer.Reset(hb - time.Since(s.last))
		case <-s.gone:
			s.why = metrics.ReasonClosed
			return // the client closed its connection
		case <-lifeC:
			s.why = metrics.ReasonDone
			return
		case <-expC:
			s.why = metrics.ReasonDone // the client comes back with fresh credentials
			return
		case <-s.h.stop:
			s.why = metrics.ReasonShutdown
			return
		case <-ctx.Done():
			s.why = metrics.ReasonClosed
			return
		}
	}
}

// messages writes m and whatever else is queued already, then flushes once.
func (s *stream) messages(m *bus.Message) error {
	s.deadline()
	var arr [maxBatch + 1][]byte
	bufs := arr[:0]     // for a hijacked connection: one writev per batch
	var count, size int // messages and bytes written, for Metrics
	for n := 0; ; n++ {
		b, err := s.h.cache.get(m)
		if err == nil {
			count, size = count+1, size+len(b)
		}
		if err != nil {
			// Never written: the client sees the gap in the IDs and
			// reports it rather than missing the message silently.
			s.h.logger().Error("sse: message skipped", "topic", s.topic, "id", m.ID, "error", err)
		} else if s.conn != nil {
			bufs = append(bufs, b)
		} else if _, err := s.w.Write(b); err != nil {
			return err
		}
		if n == maxBatch {
			break
		}
		var ok bool
		select {
		case *m, ok = <-s.sub.C():
		default:
		}
		if !ok {
			break // empty, or closed: the main loop sees it
		}
	}
	var err error
	if s.conn == nil {
		err = s.flush()
	} else {
		switch len(bufs) {
		case 0:
		case 1:
			_, err = s.conn.Write(bufs[0])
		default:
			nb := net.Buffers(bufs)
			_, err = nb.WriteTo(s.conn)
		}
		s.last = time.Now()
	}
	if err == nil && count > 0 && s.h.Metrics != nil {
		s.h.Metrics.Record(metrics.Event{Kind: metrics.Delivered, Transport: transport, Topic: s.topic, N: int64(count), Bytes: int64(size)})
	}
	return err
}

// ended handles the end of the subscription. A subscriber whose position
// left the history gets a reset event with the top; a slow one is simply
// disconnected and resumes from its cursor.
func (s *stream) ended(ctx context.Context) {
	err := s.sub.Err()
	s.why = subEnded(err)
	if !errors.Is(err, bus.ErrCursorExpired) {
		return
	}
	top, ok := bus.TopOf(err)
	if !ok {
		var terr error
		if top, terr = s.h.Broker.Top(ctx, s.topic); terr != nil {
			return
		}
	}
	if s.write(appendReset(nil, top)) == nil && s.h.Metrics != nil {
		s.h.Metrics.Record(metrics.Event{Kind: metrics.Reset, Transport: transport, Topic: s.topic})
	}
}

// shutdownGrace bounds the writes of a stream after Shutdown: its last
// bytes, such as the end of a chunked body.
const shutdownGrace = time.Second

// deadline gives the next writes their deadline: WriteTimeout from now, or
// shutdownGrace once Shutdown has begun.
func (s *stream) deadline() {
	d := s.h.writeTimeout()
	select {
	case <-s.h.stop:
		// Checked after Shutdown's cut may have set its deadline: either
		// this sees stop closed, or cut's deadline comes after this one.
		d = shutdownGrace
	default:
		if d <= 0 {
			return
		}
	}
	s.setDeadline(time.Now().Add(d))
}

func (s *stream) setDeadline(t time.Time) {
	if s.conn != nil {
		_ = s.conn.SetWriteDeadline(t)
		return
	}
	_ = s.rc.SetWriteDeadline(t)
}

// cut ends, for Shutdown, a write the stream may be blocked in: a hijacked
// connection is closed; a write on the ResponseWriter gets a deadline
// that has passed. It is called with the Handler's mu held, so never after
// ServeHTTP has returned.
func (s *stream) cut() {
	if s.conn != nil {
		_ = s.conn.Close()
		return
	}
	s.setDeadline(time.Now())
}

func (s *stream) write(b []byte) error {
	s.deadline()
	if s.conn != nil {
		_, err := s.conn.Write(b)
		s.last = time.Now()
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.flush()
}

func (s *stream) flush() error {
	s.last = time.Now()
	return s.rc.Flush()
}

// watch reads a hijacked connection until it ends and then closes gone,
// so a client that closes its connection ends its stream at once, as
// net/http's own background read does for a stream on a ResponseWriter.
// A client sends nothing after its request: whatever comes is dropped.
// The read ends with the connection, which the stream closes when it
// ends.
func watch(c net.Conn, gone chan<- struct{}) {
	defer close(gone)
	var b [64]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}
