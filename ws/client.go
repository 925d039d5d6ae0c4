package ws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Client's fields.
const (
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultClientBuffer = 16
	DefaultClientLimit  = 1 << 20
)

// Client speaks the envelope protocol to a Handler over one WebSocket
// connection, several topics at once. It implements bus.Subscriber and
// bus.Publisher.
//
// Create one with NewClient or as a struct literal, set its fields, then
// call Connect. Fields must not be changed after Connect. Subscribe and
// Publish before Connect returns fail with ErrNotConnected.
//
// When the connection breaks the Client reconnects with exponential
// backoff and jitter and subscribes every topic again after the last
// message it delivered, so each subscription sees every message exactly
// once and in order: a bus.Tracker checks that each ID follows the previous
// one, drops duplicates and ends the subscription with a *bus.CursorError
// wrapping bus.ErrCursorExpired on a gap.
// Publishes not yet sent are sent after the reconnect; a Publish whose frame
// was sent but not acknowledged fails with ErrNoAck.
//
// Messages of all topics arrive on one connection, in one reader: a
// subscription whose consumer does not keep up stalls the others, until the
// server cuts the connection as a slow consumer and the Client resumes
// (nothing is lost). Give each subscription a consumer that keeps reading,
// or a Buffer large enough for its bursts.
//
// Failed connections follow the retry policy that all pushpull clients
// share (see the package doc): network errors and the statuses 408, 425,
// 429 and 5xx but 501 and 505 — such as the 503 of a Handler that is
// shutting down or over MaxConnections — are retried, waiting at least the
// server's Retry-After; 400, 401, 403, 404 and the other statuses stop the
// Client with a *StatusError. The error of each retried attempt is logged
// at debug level.
//
// A Client is safe for concurrent use. Its goroutine ends before Close
// returns.
type Client struct {
	// URL is the Handler's address: ws://, wss://, http:// or https://.
	URL string
	// HTTPClient makes the upgrade requests. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Header is sent with every upgrade request, e.g. Authorization.
	Header http.Header
	// MinBackoff and MaxBackoff bound the exponential, jittered wait
	// between connection attempts. Zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ReadLimit is the largest frame accepted from the server. Zero means
	// DefaultClientLimit (1 MiB). A larger frame cannot be skipped (resuming
	// would fetch it again), so it stops the Client: every subscription ends
	// with an error wrapping websocket.ErrMessageTooBig.
	ReadLimit int64
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultClientBuffer.
	Buffer int
	// WriteTimeout bounds each write and each reconnect handshake. Zero
	// means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives reconnects at debug level and the reasons the Client
	// gives up at warn level. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, is told of each connection (ConnOpened, and when
	// it ends ConnClosed), each message received (Delivered) and each
	// subscription told its cursor expired (Reset), as Transport
	// "ws-client"; see package metrics. Nil means no metrics.
	Metrics metrics.Recorder

	wg sync.WaitGroup

	mu         sync.Mutex
	cancel     context.CancelFunc // ends the run goroutine; set by Connect
	connecting bool               // Connect runs or has succeeded
	running    bool               // the run goroutine was started
	conn       *websocket.Conn    // nil while reconnecting
	gen        uint64             // connections made so far
	subs       map[string]*subscription
	ops        map[string]*op
	seq        uint64
	closed     bool
	failure    error // why the Client stopped by itself, if it did

	progress atomic.Bool // a frame arrived since the last reconnect
}

var (
	_ bus.Subscriber = (*Client)(nil)
	_ bus.Publisher  = (*Client)(nil)
)

// An op is a request waiting for its ack.
type op struct {
	seq     uint64
	topic   string
	frame   []byte
	msg     bus.Message // publish: the message sent
	sub     *subscription
	sentGen uint64 // the connection it was sent on; 0 when not sent
	res     chan opResult
}

type opResult struct {
	id, time string
	err      error
}

// NewClient returns a Client for the Handler at url (see Client.URL). Set
// its fields, then call Connect.
func NewClient(url string) *Client { return &Client{URL: url} }

// errConnected is returned by a second Connect.
var errConnected = errors.New("ws: Client already connected")

// Connect makes the Client's first connection and starts the goroutine that
// serves it and reconnects, until Close. A handshake answered with an HTTP
// status is a *StatusError. Connect tries again, as reconnects do, while
// the connection fails for a reason that may pass (a network error, 503
// …), until ctx is done: give ctx a deadline to bound the wait; the error
// then wraps ctx's error and the last failure. A refusal that is not
// retried (401, 403, 404 …) is returned at once. After a failed Connect the
// Client may Connect again; a second Connect of a connected Client fails,
// and Connect after Close returns bus.ErrClosed.
//
// ctx bounds the first connection only; later reconnects run until Close.
// When a reconnect is refused for good (such as 403 once credentials were
// revoked), the Client stops: its subscriptions end and later calls fail
// with that *StatusError.
func (c *Client) Connect(ctx context.Context) error {
	if err := checkURL(c.URL); err != nil {
		return err // retrying cannot fix it
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return c.closedErr()
	case c.connecting:
		c.mu.Unlock()
		return errConnected
	}
	c.connecting = true
	// The run goroutine outlives ctx; Close cancels it, and the first
	// connection attempts too.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.mu.Unlock()

	conn, err := c.connect(ctx, runCtx)
	c.mu.Lock()
	if err == nil && c.closed {
		conn.CloseNow()
		err = c.closedErr()
	}
	if err != nil {
		if !c.closed {
			c.connecting, c.cancel = false, nil
		}
		c.mu.Unlock()
		cancel()
		return err
	}
	c.running = true
	if c.subs == nil {
		c.subs, c.ops = make(map[string]*subscription), make(map[string]*op)
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go c.run(runCtx, conn)
	return nil
}

// connect makes the first connection, retrying while the failure may pass,
// until ctx or runCtx (Close) ends.
func (c *Client) connect(ctx, runCtx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(runCtx, cancel)()
	b := c.backOff()
	conn, err := c.dial(ctx)
	for err != nil {
		again, wait := retryable(err)
		if !again || ctx.Err() != nil {
			return nil, err
		}
		c.logger().Debug("ws: dial failed, retrying", "url", c.URL, "error", err)
		if serr := sleep(ctx, retry.Wait(b.NextBackOff(), wait)); serr != nil {
			return nil, fmt.Errorf("ws: dial %s: %w (last failure: %w)", c.URL, serr, err)
		}
		conn, err = c.dial(ctx)
	}
	return conn, nil
}

// closedErr is the error of calls on a Client that stopped: why it stopped
// by itself, or bus.ErrClosed. c.mu is held.
func (c *Client) closedErr() error {
	if c.failure != nil {
		return c.failure
	}
	return bus.ErrClosed
}

func (c *Client) writeTimeout() time.Duration {
	if c.WriteTimeout > 0 {
		return c.WriteTimeout
	}
	return DefaultWriteTimeout
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return discardLogger
}

// backOff returns a fresh backoff between connection attempts.
func (c *Client) backOff() *backoff.ExponentialBackOff {
	minB, maxB := c.MinBackoff, c.MaxBackoff
	if minB <= 0 {
		minB = DefaultMinBackoff
	}
	if maxB <= 0 {
		maxB = DefaultMaxBackoff
	}
	return retry.NewBackOff(minB, max(minB, maxB))
}

// Subscribe subscribes to topic after the cursor after ("" for new
// messages only, bus.Oldest for the whole history, bus.Latest for the
// newest message then what follows, or a message ID) and
// waits for the server to accept. One Client holds at most one
// subscription per topic (ErrAlreadySubscribed). The subscription ends when
// ctx is done, when it is closed, when the Client is closed (bus.ErrClosed),
// when the server ends it (a reset yields a *bus.CursorError with the
// topic's top) or when the IDs received skip a message (a *bus.CursorError
// whose Cursor is the last ID delivered). Both wrap bus.ErrCursorExpired.
// An invalid cursor is a *bus.CursorError wrapping bus.ErrInvalidCursor,
// checked before anything is sent.
func (c *Client) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	check := after
	if after == bus.Latest {
		check = "" // the server resolves it
	}
	if _, err := bus.CheckArgs(ctx, topic, check, nil); err != nil {
		return nil, err
	}
	track, err := bus.NewTracker(topic, after)
	if err != nil {
		return nil, err
	}
	s := newSubscription(c, topic, track, c.Buffer)
	_, err = c.request(ctx, &op{topic: topic, sub: s}, func() error {
		if c.subs[topic] != nil {
			return fmt.Errorf("%w: topic %q", ErrAlreadySubscribed, topic)
		}
		c.subs[topic] = s
		return nil
	})
	if err != nil {
		s.end(err, !errors.Is(err, bus.ErrClosed))
		return nil, err
	}
	s.watch(ctx)
	return s, nil
}

// Publish sends m to topic and waits for the server's ack. It returns the
// stored message with its ID (and Time, when the server sent it). Errors
// from the server are *ServerError values unwrapping to the bus sentinels
// (bus.ErrInvalidTopic, bus.ErrInvalidMessage, …) or ErrForbidden; a
// connection lost after the frame was sent yields ErrNoAck. When ctx ends
// first, Publish returns ctx's error and the message may or may not be
// stored.
func (c *Client) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	if err := bus.CheckPublish(ctx, topic, &m); err != nil {
		return bus.Message{}, err
	}
	if !utf8.ValidString(m.Type) {
		return bus.Message{}, fmt.Errorf("%w: type is not UTF-8", bus.ErrInvalidMessage)
	}
	r, err := c.request(ctx, &op{topic: topic, msg: m}, func() error { return nil })
	if err != nil {
		return bus.Message{}, err
	}
	m.Topic, m.ID = topic, r.id
	if r.time != "" {
		if t, err := time.Parse(time.RFC3339Nano, r.time); err == nil {
			m.Time = t
		}
	}
	return m, nil
}

// request registers o and sends frame if connected, then waits for the
// answer.
func (c *Client) request(ctx context.Context, o *op, register func() error) (opResult, error) {
	c.mu.Lock()
	switch {
	case c.closed:
		err := c.closedErr()
		c.mu.Unlock()
		return opResult{}, err
	case !c.running:
		c.mu.Unlock()
		return opResult{}, ErrNotConnected
	}
	if err := register(); err != nil {
		c.mu.Unlock()
		return opResult{}, err
	}
	c.seq++
	o.seq = c.seq
	ref := strconv.FormatUint(c.seq, 36)
	c.ops[ref] = o
	o.res = make(chan opResult, 1)
	if o.sub != nil {
		o.sub.ref = ref
		o.sub.op = o
		o.frame = encode(&envelope{Op: opSubscribe, Ref: ref, Topic: o.topic, After: o.sub.track.Cursor()})
	} else {
		o.frame = encodePublish(ref, o.topic, o.msg)
	}
	conn := c.conn
	if conn != nil {
		o.sentGen = c.gen
		if o.sub != nil {
			o.sub.sentGen = c.gen
		}
	}
	c.mu.Unlock()
	if conn != nil {
		// A failed write breaks the connection; the reconnect sends
		// subscriptions again and fails this publish with ErrNoAck.
		_ = c.write(ctx, conn, o.frame)
	}
	select {
	case r := <-o.res:
		return r, r.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.ops, ref)
		c.mu.Unlock()
		return opResult{}, ctx.Err()
	}
}

// Close ends every subscription (their Err is bus.ErrClosed), fails the
// requests in flight with bus.ErrClosed, closes the connection and waits
// for the Client's goroutine. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	if already {
		return nil
	}
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	for ref, o := range c.ops {
		delete(c.ops, ref)
		o.res <- opResult{err: bus.ErrClosed}
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.end(bus.ErrClosed, false)
	}
	return nil
}

// fail ends the Client after a permanent refusal: every subscription and
// waiting request ends with err, and later calls return it.
func (c *Client) fail(err error) {
	c.mu.Lock()
	c.closed, c.failure = true, err
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	for ref, o := range c.ops {
		delete(c.ops, ref)
		o.res <- opResult{err: err}
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.end(err, false)
	}
}
