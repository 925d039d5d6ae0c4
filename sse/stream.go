package sse

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// A stream is one open event stream, run on the ServeHTTP goroutine. It
// waits for messages in a plain receive from its subscription: whatever
// else ends a stream (the client hanging up, Shutdown, MaxLifetime, the
// identity expiring, a failed heartbeat) cancels ctx with an endCause,
// which ends the subscription and so wakes the stream. Heartbeats are
// written from a timer, under wmu.
type stream struct {
	h     *Handler
	w     http.ResponseWriter
	rc    *http.ResponseController
	sub   bus.Subscription
	topic string
	ctx   context.Context // the subscription's; cancelled by end, or with the request's
	stop  context.CancelCauseFunc
	// stopped is set by end and by fence: a heartbeat that finds it set
	// does not set its timer again.
	stopped atomic.Bool
	conn    net.Conn // the hijacked connection, or nil
	// sliced is set for a hijacked connection whose writes can resume
	// after a deadline (not TLS): see writeConn.
	sliced bool
	// expires is when the stream's identity expires; zero means never.
	expires time.Time
	delay   *time.Timer                // for Handler.WriteDelay, made on first use
	hb      atomic.Pointer[time.Timer] // the heartbeat's, while the stream runs
	why     string                     // why the stream ended, for Metrics

	// wmu serializes the writes of the stream and its heartbeat; it
	// guards the fields below.
	wmu    sync.Mutex
	last   time.Time // of the last write
	dl     time.Time // the write deadline of a sliced connection
	fenced bool      // the stream has ended: no heartbeat writes any more
}

// An endCause is the cause with which a stream's context is cancelled
// when something other than its subscription ends it: why is its reason
// for Metrics.
type endCause struct{ why string }

func (e *endCause) Error() string { return "sse: stream ended: " + e.why }

var (
	endGone     = &endCause{metrics.ReasonClosed}   // the client hung up
	endShutdown = &endCause{metrics.ReasonShutdown} // Handler.Shutdown
	endDone     = &endCause{metrics.ReasonDone}     // MaxLifetime, or the identity expired
)

// end stops the stream for cause. It does not block, and may be called
// from any goroutine, more than once, and after the stream has ended.
func (s *stream) end(cause *endCause) {
	s.stop(cause) // first: a stream that sees stopped finds the cause
	s.stopped.Store(true)
}

// maxBatchBytes bounds the bytes of the events a stream gathers for one
// write; a batch holds at least one event, whatever its size. A stream
// holds its batch while its client takes it, so this bounds the memory of
// a stream that is behind (64 KiB cost up to 180 KiB RSS per lagging
// stream under load, for little fewer writes than 16 KiB).
const maxBatchBytes = 16 << 10

// batchPool holds the buffers batches are gathered in, so that a stream
// holds none while it is idle.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxYields bounds how often a stream that is behind lets its
// subscription refill its queue before it writes.
const maxYields = 8

// progressSlice is how long a write on a hijacked connection waits at
// most before it reports to the subscription the bytes the client
// accepted meanwhile: well under any broker's stall timeout, so a slow
// client that keeps reading is never taken for a stalled one.
const progressSlice = 250 * time.Millisecond

var heartbeatLine = []byte(":\n")

func (s *stream) run(ctx context.Context, prelude []byte) {
	if s.h.Metrics != nil {
		defer s.closed(s.opened())
	}
	// The server ends the response after ServeHTTP returns: give that
	// write a fresh deadline too.
	defer s.deadline()
	// Before that, no heartbeat may write any more.
	defer s.fence()
	if err := s.write(prelude); err != nil {
		s.why = s.writeFailed(err)
		return
	}
	if hb := s.h.heartbeat(); hb > 0 {
		s.hb.Store(time.AfterFunc(hb, s.heartbeat))
	}
	if l := s.h.MaxLifetime; l > 0 {
		life := time.AfterFunc(l-rand.N(l/5+1), func() { s.end(endDone) })
		defer life.Stop()
	}
	if !s.expires.IsZero() {
		// The client reconnects with its cursor, and has to present fresh
		// credentials to be let in again.
		exp := time.AfterFunc(time.Until(s.expires), func() { s.end(endDone) })
		defer exp.Stop()
	}
	var m bus.Message // one for the stream's life: messages keeps its address
	for {
		var ok bool
		m, ok = <-s.sub.C()
		// A cancelled context (the stream's end, or the request's) ends
		// the stream now, not after the messages still queued.
		if !ok || s.ctx.Err() != nil {
			s.ended(ctx)
			return
		}
		if !s.linger() {
			s.ended(ctx)
			return
		}
		if err := s.messages(&m); err != nil {
			s.why = s.writeFailed(err)
			return
		}
	}
}

// heartbeat runs on the heartbeat timer: it writes a comment line when
// the stream has written nothing for the heartbeat interval, and sets the
// timer for the next check.
func (s *stream) heartbeat() {
	hb := s.h.heartbeat()
	t := s.hb.Load()
	for t == nil { // the timer fired before run stored it
		runtime.Gosched()
		t = s.hb.Load()
	}
	if !s.wmu.TryLock() {
		// The stream is writing: no heartbeat is due.
		t.Reset(hb)
		if s.stopped.Load() {
			t.Stop() // fence may have stopped it before the Reset
		}
		return
	}
	defer s.wmu.Unlock()
	if s.fenced {
		return
	}
	idle := time.Since(s.last)
	if idle >= hb {
		if err := s.writeLocked(heartbeatLine); err != nil {
			s.end(&endCause{s.writeFailed(err)})
			return
		}
		idle = 0
	}
	t.Reset(hb - idle)
}

// fence stops the heartbeat and waits for one under way, before the
// stream returns.
func (s *stream) fence() {
	s.stopped.Store(true)
	s.wmu.Lock()
	s.fenced = true
	if t := s.hb.Load(); t != nil {
		t.Stop()
	}
	s.wmu.Unlock()
}

// linger waits, with a message in hand, until Handler.WriteDelay has
// passed since the stream's last write, so that the messages arriving
// meanwhile share the next write. It reports false when the stream ends
// meanwhile.
func (s *stream) linger() bool {
	d := s.h.WriteDelay
	if d <= 0 {
		return true
	}
	s.wmu.Lock()
	wait := time.Until(s.last.Add(d))
	s.wmu.Unlock()
	if wait <= 0 {
		return true
	}
	if s.delay == nil {
		s.delay = time.NewTimer(wait)
	} else {
		s.delay.Reset(wait)
	}
	select {
	case <-s.delay.C:
		return !s.stopped.Load()
	case <-s.ctx.Done():
		s.delay.Stop()
		return false
	}
}

// messages writes m and whatever else is queued already, up to
// maxBatchBytes, in one write and one flush. The more a stream lags, the
// more each write carries.
func (s *stream) messages(m *bus.Message) error {
	bp := batchPool.Get().(*[]byte)
	buf := (*bp)[:0]
	count := 0 // messages written, for Metrics
	// While whole queues' worth keep coming, the stream is behind and its
	// subscription is refilling the queue from the history: let it, a few
	// times, so this write carries more.
	yields, refill := 0, cap(s.sub.C())
	for {
		if b, err := s.h.cache.Get(m, encodeEvent); err != nil {
			// Never written: the client sees the gap in the IDs and
			// reports it rather than missing the message silently.
			s.h.logger().Error("sse: message skipped", "topic", s.topic, "id", m.ID, "error", err)
		} else {
			buf = append(buf, b...)
			count++
		}
		if len(buf) >= maxBatchBytes {
			break
		}
		var ok bool
		select {
		case *m, ok = <-s.sub.C():
		default:
			if count > refill && yields < maxYields {
				yields++
				refill = count + cap(s.sub.C())
				runtime.Gosched()
				select {
				case *m, ok = <-s.sub.C():
				default:
				}
			}
		}
		if !ok {
			break // empty, or closed: the main loop sees it
		}
	}
	var err error
	if len(buf) > 0 {
		err = s.write(buf)
	}
	if err == nil && count > 0 && s.h.Metrics != nil {
		s.h.Metrics.Record(metrics.Event{Kind: metrics.Delivered, Transport: transport, Topic: s.topic, N: int64(count), Bytes: int64(len(buf))})
	}
	if cap(buf) <= 2*maxBatchBytes {
		*bp = buf[:0]
		batchPool.Put(bp)
	}
	return err
}

// ended handles the end of the stream: its reason, and for a
// subscription whose position left the history a reset event with the
// top. A slow one is simply disconnected and resumes from its cursor.
func (s *stream) ended(ctx context.Context) {
	var cause *endCause
	if errors.As(context.Cause(s.ctx), &cause) {
		s.why = cause.why
		return
	}
	if ctx.Err() != nil {
		s.why = metrics.ReasonClosed // the client went away
		return
	}
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
	if s.sliced {
		return // writeConn keeps the deadline
	}
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

// write writes b and flushes it.
func (s *stream) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(b)
}

// writeLocked is write with wmu held.
func (s *stream) writeLocked(b []byte) error {
	if s.conn != nil {
		return s.writeConn(b)
	}
	s.deadline()
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.flush()
}

// writeConn writes b to the hijacked connection. It gives up only when
// the client accepted no byte for WriteTimeout: it waits for the write in
// slices of progressSlice and reports each slice in which the client took
// bytes as progress to the subscription, so the broker does not cut a
// stream that is slowly catching up. A TLS connection cannot resume a
// write after a deadline: there each write waits WriteTimeout at most.
func (s *stream) writeConn(b []byte) error {
	if !s.sliced {
		s.deadline()
		_, err := s.conn.Write(b)
		s.last = time.Now()
		return err
	}
	wt := s.h.writeTimeout()
	now := time.Now()
	accepted := now // when the client last took bytes
	for {
		s.sliceDeadline(now)
		n, err := s.conn.Write(b)
		now = time.Now()
		s.last = now
		if err == nil {
			return nil
		}
		if n > 0 {
			b, accepted = b[n:], now
			bus.Progress(s.sub)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || (wt > 0 && now.Sub(accepted) >= wt) {
			return err
		}
	}
}

// sliceDeadline gives a write on a hijacked connection a deadline between
// half a progressSlice and a progressSlice from now, moving it only when
// less than half a slice is left, so that a stream that writes often sets
// it seldom.
func (s *stream) sliceDeadline(now time.Time) {
	if s.dl.Sub(now) >= progressSlice/2 {
		return
	}
	s.dl = now.Add(progressSlice)
	_ = s.conn.SetWriteDeadline(s.dl)
}

func (s *stream) flush() error {
	s.last = time.Now()
	return s.rc.Flush()
}
