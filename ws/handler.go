package ws

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/enccache"
	"github.com/pushpull/pushpull/internal/refmap"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Handler's fields.
const (
	DefaultReadLimit        = 64 << 10
	DefaultQueueSize        = 256
	DefaultWriteTimeout     = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultMaxSubscriptions = 100
	DefaultBatchBytes       = 16 << 10
)

// An Action is what a client asks to do with a topic; Authorize receives it.
// It is auth.Action: the hook and Auth are asked the same questions.
type Action = auth.Action

// The actions Authorize is asked about.
const (
	ActionSubscribe = auth.Subscribe
	ActionPublish   = auth.Publish
)

// Handler serves the envelope protocol (see the package documentation) on
// WebSocket connections: clients subscribe to topics of Broker from their
// own cursors, and publish to it.
//
// The zero value is not usable: Broker must be set. Other fields have useful
// zero values and must not be changed after the first ServeHTTP. A Handler
// is safe for concurrent use. Every goroutine a connection uses ends before
// its ServeHTTP returns; the per-topic fan-out goroutines end when their
// last subscriber leaves.
type Handler struct {
	// Broker stores and fans out the messages. Required.
	Broker bus.Broker

	// OriginPatterns lists the foreign origins allowed to connect, as
	// host patterns ("*.example.com") or scheme://host patterns (see
	// websocket.AcceptOptions). The request's own host is always allowed,
	// as are requests without an Origin header (non-browser clients).
	// Other origins get 403 Forbidden.
	OriginPatterns []string
	// InsecureSkipVerify turns the origin check off. Never set it for a
	// service that browsers reach with cookies.
	InsecureSkipVerify bool
	// Compression is the permessage-deflate mode. Zero means off, which
	// saves about 1.2 MB per connection with context takeover.
	Compression websocket.CompressionMode

	// Auth, when set, authenticates the upgrade request (401 before the
	// upgrade without valid credentials, 503 when they cannot be
	// checked) and authorizes every subscribe and publish (an error frame
	// with code "forbidden"; the connection stays open); see package
	// auth. A connection is closed with CloseExpired when its identity
	// expires. Nil means no authentication.
	Auth auth.Authorizer
	// Authorize, when set, is asked before every subscribe and publish
	// with the upgrade request, after Auth allowed it; a non-nil error is
	// answered with an error frame with code "forbidden", and the
	// connection stays open. The identity Auth found is in r's context
	// (auth.FromContext), but r's Context must not be used otherwise:
	// the connection outlives it.
	Authorize func(r *http.Request, action Action, topic string) error
	// OnPublish, when set, sees every message a client publishes after it
	// was authorized and before it reaches the Broker: it may change
	// m's Type, Data and Meta (stamp it, e.g. with auth.Stamp), or refuse
	// it with an error, answered with an error frame with code
	// "forbidden" (or "invalid_message" for an error wrapping
	// bus.ErrInvalidMessage). m.Topic is the topic; changing it has no
	// effect. It runs for the connection's reader, one frame at a time.
	OnPublish func(ctx context.Context, c *Conn, m *bus.Message) error

	// OnMessage, when set, sees every data frame a client sends before
	// the envelope protocol does. Returning true means the frame was
	// handled and the protocol ignores it; returning false lets the
	// protocol decode it. It runs for the connection's reader (on a
	// goroutine of its own per frame; a panic ends the request as usual):
	// frames of one connection are seen one at a time, in order; a slow
	// OnMessage delays that connection only. See Conn for what it can do.
	OnMessage func(ctx context.Context, c *Conn, typ websocket.MessageType, data []byte) bool

	// ReadLimit is the largest frame a client may send, in bytes. Zero
	// means DefaultReadLimit (64 KiB). A larger frame closes the
	// connection with StatusMessageTooBig.
	ReadLimit int64
	// QueueSize is how many frames may wait for a connection's writer:
	// the burst a connection absorbs before it reads from history. Zero
	// means DefaultQueueSize. Live messages fill at most three quarters
	// of it; a subscription whose next message finds it that full falls
	// behind without losing its place: the writer feeds it from the
	// Broker's history (Read), a batch frame at a time, interleaved with
	// the connection's other topics, until it has caught up and rejoins
	// the live fan-out. Nothing is cut for that; a subscription whose
	// cursor leaves the history meanwhile gets a reset. A client's own
	// requests never fill the queue: the Handler reads a connection's
	// next frame only while its queue is less than half full, so the
	// replies (and replayed history) take at most half and a client that
	// pipelines requests faster than it reads the replies is slowed down
	// by TCP instead. Messages the client published to topics it
	// subscribes to count as queued until they are queued or written.
	// Frames queued with Conn.Send beyond QueueSize close the connection
	// with CloseSlowConsumer. The queue starts at a few slots and grows
	// only while frames wait, and queued messages share their encoded
	// bytes with every other connection, so a large value costs little.
	QueueSize int
	// BatchBytes is the largest batch frame: the writer coalesces the
	// envelopes waiting for a connection that speaks Subprotocol into
	// frames of up to this many bytes, each written with one write (see
	// the package documentation). An envelope larger than that travels
	// alone. Zero means DefaultBatchBytes (16 KiB); a negative value
	// sends one envelope per frame. Keep it below the clients' read
	// limits (Client.ReadLimit defaults to 1 MiB).
	BatchBytes int
	// WriteDelay, when positive, is the least time between two writes to
	// a connection: what is queued meanwhile (messages of every topic,
	// replies) waits and goes out together in the next write, coalesced
	// into batch frames. It trades latency (up to WriteDelay more per
	// frame) for CPU when many connections receive steady traffic: at 100
	// messages a second, 20 ms halves a connection's writes. Keep it short
	// (tens of milliseconds). Zero writes as soon as something is queued,
	// together with whatever is queued already.
	WriteDelay time.Duration
	// WriteTimeout is how long a write to a connection may go without
	// the peer accepting a byte (of a 4 KiB chunk). Zero means
	// DefaultWriteTimeout. A connection whose write stalls that long is
	// cut (CloseSlowConsumer); one that drains slowly is not.
	WriteTimeout time.Duration
	// PingInterval is how often each connection is pinged. Zero means
	// DefaultPingInterval; a negative value turns pings off. A connection
	// that took frames since the last ping is not pinged that time: the
	// write watchdog (WriteTimeout) watches it.
	PingInterval time.Duration
	// PongTimeout is how long a pong may take. Zero means
	// DefaultPongTimeout. A connection that does not answer in time, and
	// took no frame meanwhile, is closed (a client far behind reads the
	// ping only after what was written before it).
	PongTimeout time.Duration
	// MaxConnections caps the connections served at once; more get 503
	// Service Unavailable before the upgrade. Zero means no limit.
	MaxConnections int
	// MaxSubscriptions caps the topics one connection subscribes to at
	// once. Zero means DefaultMaxSubscriptions.
	MaxSubscriptions int

	// Logger receives connection errors at debug level and failed
	// requests at warn level. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, is told of each refused upgrade (Refused), each
	// connection (ConnOpened, and when it ends ConnClosed), each message
	// frame written (Delivered), each subscription told its cursor
	// expired (Reset) and each subscribe or publish Authorize refuses
	// (Refused, Status 403), as Transport "ws"; see package metrics. Nil
	// means no metrics.
	Metrics metrics.Recorder

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	hubs     refmap.Map[hub] // by topic; a connection subscribed or subscribing holds a reference
	cache    enccache.Cache  // the envelopes of recent messages, shared by the fan-out and catch-ups
	active   int             // connections admitted and not yet released
	shutdown bool
	connWG   sync.WaitGroup
}

func (h *Handler) readLimit() int64 {
	if h.ReadLimit > 0 {
		return h.ReadLimit
	}
	return DefaultReadLimit
}

func (h *Handler) queueSize() int {
	if h.QueueSize > 0 {
		return h.QueueSize
	}
	return DefaultQueueSize
}

func (h *Handler) batchBytes() int {
	switch {
	case h.BatchBytes > 0:
		return h.BatchBytes
	case h.BatchBytes < 0:
		return 0
	}
	return DefaultBatchBytes
}

func (h *Handler) writeTimeout() time.Duration {
	if h.WriteTimeout > 0 {
		return h.WriteTimeout
	}
	return DefaultWriteTimeout
}

func (h *Handler) pingInterval() time.Duration {
	if h.PingInterval == 0 {
		return DefaultPingInterval
	}
	return h.PingInterval
}

func (h *Handler) pongTimeout() time.Duration {
	if h.PongTimeout > 0 {
		return h.PongTimeout
	}
	return DefaultPongTimeout
}

func (h *Handler) maxSubscriptions() int {
	if h.MaxSubscriptions > 0 {
		return h.MaxSubscriptions
	}
	return DefaultMaxSubscriptions
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return discardLogger
}

// discardLogger stands for a nil Logger: nil means no logging.
var discardLogger = slog.New(slog.DiscardHandler)

// ServeHTTP upgrades the request and serves the connection until the client
// leaves, the connection fails or Shutdown closes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Broker == nil {
		panic("ws: Handler.Broker is nil")
	}
	// The upgrade runs aside, and so does each frame (see Conn.serve):
	// this goroutine, which lives as long as the connection, keeps the
	// small stack that waiting for the next frame needs.
	var c *Conn
	aside(func() { c = h.upgrade(w, r) })
	if c == nil {
		return
	}
	defer h.connWG.Done()
	if h.Metrics != nil {
		defer c.closed(c.start)
	}
	c.serve()
	h.release(c)
}

// upgrade authenticates and admits the request and upgrades it. It returns
// the connection, or nil when it answered the request with a refusal.
func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request) (c *Conn) {
	var id *auth.Identity
	if h.Auth != nil {
		var err error
		if r, id, err = auth.Authenticate(h.Auth, r); err != nil {
			if errors.Is(err, auth.ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", auth.Challenge(err))
				http.Error(w, err.Error(), http.StatusUnauthorized)
				h.refusedUpgrade(http.StatusUnauthorized)
				return nil
			}
			h.logger().Warn("ws: credentials could not be checked", "error", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "ws: credentials could not be checked", http.StatusServiceUnavailable)
			return nil
		}
	}
	if err := h.admit(); err != nil {
		// Connection: close lets a load balancer send the client's next
		// attempt to another instance.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		h.refusedAdmit(err)
		return nil
	}
	defer func() {
		if c == nil { // refused, or a panic
			h.release(nil)
			h.connWG.Done()
		}
	}()
	hw := &hijackRecorder{ResponseWriter: w}
	wc, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		OriginPatterns:     h.OriginPatterns,
		InsecureSkipVerify: h.InsecureSkipVerify,
		CompressionMode:    h.Compression,
	})
	if err != nil {
		h.refusedUpgrade(hw.status)
		h.logger().Debug("ws: accept", "error", err)
		return nil
	}
	conn := newConn(h, wc, hw.conn, hw.br, r)
	conn.id = id
	h.mu.Lock()
	down := h.shutdown
	h.conns[conn] = struct{}{}
	h.mu.Unlock()
	if down {
		conn.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	if h.Metrics != nil {
		conn.start = conn.opened()
	}
	conn.expireAt()
	return conn
}

// hijackRecorder remembers the connection websocket.Accept hijacks, so that
// the Handler can always close it at once. (websocket.Conn.CloseNow waits
// for a closing handshake in progress instead.) The connection it hands
// over is a *peekConn, and it keeps the buffered reader websocket.Conn
// reads frames from, for Conn.serve's shallow wait for the next frame.
type hijackRecorder struct {
	http.ResponseWriter
	conn   *peekConn
	br     *bufio.Reader
	status int // of a refused upgrade
}

// WriteHeader records the status of a refused upgrade.
func (w *hijackRecorder) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	w.conn, w.br = &peekConn{Conn: c}, brw.Reader
	brw.Writer.Reset(w.conn) // empty: the response is flushed
	return w.conn, brw, nil
}

// A peekConn is a hijacked connection whose reader can wait for the next
// byte without a deep call stack: wait reads one byte and keeps it for the
// next Read. It writes in chunks and counts them (see Conn.writeStuck). wait and Read never read the connection at the same time
// (websocket.Conn reads on other goroutines too, in its closing
// handshake).
type peekConn struct {
	net.Conn
	mu      sync.Mutex
	b       [1]byte
	peeked  bool          // b holds the next byte
	waiting chan struct{} // while wait reads b; closed when it is done
	reading bool          // Read is reading
	sent    atomic.Uint64 // chunks written, for the write watchdog
}

// writeChunk is the most a peekConn writes at once, so that the write
// watchdog sees a slow peer's progress within a large frame.
const writeChunk = 4 << 10

func (c *peekConn) Write(p []byte) (n int, err error) {
	for len(p) > 0 {
		k := min(len(p), writeChunk)
		m, err := c.Conn.Write(p[:k])
		n += m
		c.sent.Add(1)
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// wait blocks until the peer sends a byte or the connection fails, unless
// a byte is kept already or Read is reading. Only the reader calls it.
func (c *peekConn) wait() {
	c.mu.Lock()
	if c.peeked || c.reading {
		c.mu.Unlock()
		return
	}
	done := make(chan struct{})
	c.waiting = done
	c.mu.Unlock()
	n, _ := c.Conn.Read(c.b[:])
	c.mu.Lock()
	c.peeked = n == 1
	c.waiting = nil
	c.mu.Unlock()
	close(done)
}

func (c *peekConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for c.waiting != nil {
		done := c.waiting
		c.mu.Unlock()
		<-done
		c.mu.Lock()
	}
	if c.peeked && len(p) > 0 {
		p[0] = c.b[0]
		c.peeked = false
		c.mu.Unlock()
		return 1, nil
	}
	c.reading = true
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// admit reserves a connection slot.
func (h *Handler) admit() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.shutdown:
		return errShuttingDown
	case h.MaxConnections > 0 && h.active >= h.MaxConnections:
		return errTooManyConnections
	}
	if h.conns == nil {
		h.conns = make(map[*Conn]struct{})
	}
	h.connWG.Add(1)
	h.active++
	return nil
}

// Refusals of the upgrade (503).
var (
	errShuttingDown       = errors.New("ws: shutting down")
	errTooManyConnections = errors.New("ws: too many connections")
)

func (h *Handler) release(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c != nil {
		delete(h.conns, c)
	}
	h.active--
}

// Shutdown closes every connection with StatusGoingAway and waits for them
// to end. When ctx ends first, the remaining connections are closed at
// once, without the closing handshake, and Shutdown returns ctx's error
// after they are gone. New connections get 503 from the first call on.
//
// http.Server.Shutdown does not wait for WebSocket connections; call both:
//
//	srv.RegisterOnShutdown(func() { h.Shutdown(ctx) })
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.shutdown = true
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	for c := range h.conns {
		c.abort()
	}
	h.mu.Unlock()
	<-done
	return ctx.Err()
}
