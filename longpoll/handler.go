package longpoll

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/internal/refmap"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Handler's fields.
const (
	DefaultTimeout    = 25 * time.Second
	DefaultLimit      = 1000
	DefaultMaxHeld    = 10000
	DefaultRetryAfter = 2 * time.Second
)

// Latest is the cursor for "the topic's newest message, then what follows
// it", the way to show a current value and keep it up to date. A request
// with after=latest is answered at once with the newest retained message
// and its ID as the cursor; while the topic retains none it is held as a
// request without a cursor is, from the topic's top. Client.Subscribe with
// Latest delivers that message, then everything published after it. It is
// not a message ID: a broker's Subscribe and Read refuse it. It is
// bus.Latest, as poll.Latest is.
//
// The empty cursor, by contrast, means what it means for every
// bus.Subscriber: only what is published from now on.
const Latest = bus.Latest

// Handler answers long-polling requests: GET returns at once the messages of
// a topic that follow the "after" cursor when there are any, and otherwise
// holds the request until one is published or Timeout passes. Every answer
// carries a cursor. See the package documentation for the schema, the
// parameters and the statuses.
//
// A held request costs the goroutine net/http already runs for it, at its
// smallest stack on HTTP/1 (see ServeHTTP), and a small waiter, released
// as soon as it is answered or its client goes away.
// The requests held on a topic share one broker subscription and one timer,
// run by a goroutine that ends with the last of them; each message is
// encoded once for all of them. Served through Listener, a held HTTP/1.1
// request leaves net/http and costs a fraction of that.
//
// The zero value is not usable: Broker must be set. Other fields have useful
// zero values. Fields must not be changed after the first ServeHTTP. A
// Handler is safe for concurrent use. It starts no goroutine that outlives
// a ServeHTTP call, except for the requests it holds outside net/http (see
// Listener).
type Handler struct {
	// Broker holds the topics. Required.
	Broker bus.Broker
	// Topic returns the topic of a request. Nil means the {topic} path
	// value, then the "topic" query parameter. The result is checked with
	// bus.ValidateTopic.
	Topic func(r *http.Request) (string, error)
	// Auth, when set, authenticates every request (401 without valid
	// credentials) and authorizes it to subscribe to the topic (403); see
	// package auth. Nil means no authentication.
	Auth auth.Authorizer
	// Authorize, when set, is called before anything is read, after Auth
	// allowed the request; an error answers 403. Its text is not sent to
	// the client. The identity Auth found is in r's context
	// (auth.FromContext).
	Authorize func(r *http.Request, topic string) error
	// Timeout is the longest a request is held. A client may ask for less
	// with the timeout parameter, never for more. Zero means
	// DefaultTimeout, below the 60 s after which common proxies give up.
	Timeout time.Duration
	// Limit is the most messages one answer carries; a client may ask for
	// fewer with the limit parameter. Zero means DefaultLimit: a client
	// behind catches up in few, large answers. An answer
	// also ends before the message that would take its messages past
	// 1 MiB encoded, but carries one message however large.
	Limit int
	// MaxHeld bounds the requests held at once; past it the handler
	// answers 503 with Retry-After. Zero means DefaultMaxHeld; a negative
	// value means no bound.
	MaxHeld int
	// RetryAfter is the Retry-After of 503 answers. Zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Logger receives server-side failures. Nil means no logging.
	Logger *slog.Logger
	// Metrics, when set, is told of each refusal (Refused), each held
	// request (ConnOpened, QueueDepth +1, and when it is answered
	// QueueDepth -1, ConnClosed), each answer carrying messages
	// (Delivered) and each expired cursor (Reset), as Transport
	// "longpoll"; see package metrics. Nil means no metrics.
	Metrics metrics.Recorder

	held   atomic.Int64
	hubs   refmap.Map[hub] // topics with held requests
	kept   keptWindows     // windows of hubs that ended
	mu     sync.Mutex
	lns    []*listener   // Listener's, until closed
	active int           // requests in ServeHTTP
	stop   chan struct{} // closed by Shutdown
	closed bool
	idle   chan struct{} // closed when active drops to 0 after Shutdown
}

func (h *Handler) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

func (h *Handler) limit() int {
	if h.Limit > 0 {
		return h.Limit
	}
	return DefaultLimit
}

func (h *Handler) maxHeld() int64 {
	switch {
	case h.MaxHeld > 0:
		return int64(h.MaxHeld)
	case h.MaxHeld < 0:
		return 1<<63 - 1
	}
	return DefaultMaxHeld
}

func (h *Handler) retryAfter() time.Duration {
	if h.RetryAfter > 0 {
		return h.RetryAfter
	}
	return DefaultRetryAfter
}

// Held returns the number of requests held at this moment. It is meant for
// metrics and tests.
func (h *Handler) Held() int { return int(h.held.Load()) }

// enter registers a request; it returns the Shutdown channel, or false after
// Shutdown.
func (h *Handler) enter() (<-chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	if h.stop == nil {
		h.stop = make(chan struct{})
	}
	h.active++
	return h.stop, true
}

func (h *Handler) exit() {
	h.mu.Lock()
	h.active--
	if h.active == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
}

// Shutdown answers every held request at once, with no message and its
// cursor, and makes later requests answer 503 with Retry-After. Requests
// held outside net/http (Listener) are answered too, and their
// connections closed after the answer. From then
// on every answer carries "Connection: close", so that net/http closes the
// connection after it and keep-alive clients reconnect, through a load
// balancer to another instance, even while the http.Server keeps
// serving. It waits
// until every ServeHTTP call has returned and every request held outside
// net/http is answered, or ctx is done, then returns
// ctx's error. http.Server.Shutdown does not end held requests by itself;
// register this with RegisterOnShutdown:
//
//	srv.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
//
// Shutdown is idempotent.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		if h.stop == nil {
			h.stop = make(chan struct{})
		}
		close(h.stop)
	}
	h.mu.Unlock()
	h.notifyAll()
	h.mu.Lock()
	if h.active == 0 {
		h.mu.Unlock()
		return nil
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP implements http.Handler. A request to hold that came through
// Listener on HTTP/1.1 is taken out of net/http, and ServeHTTP returns at
// once; see Listener.
//
// On HTTP/1, net/http runs one goroutine per connection, which serves its
// requests one after the other and waits in ServeHTTP while a request is
// held. A goroutine keeps the stack it grew to while it waits (the runtime
// only halves a stack less than a quarter used), and parsing a request,
// reading the broker and above all writing an answer (net/http's header
// writer alone takes 2.8 KiB) need more than the 4 KiB that the
// connection's goroutine otherwise keeps. So ServeHTTP does that work on
// short-lived goroutines, one at a time, each ending before the next
// starts, and waits in its own small frame on one channel: the
// connection's goroutine keeps its smallest stack while the request is
// held, and after every answer, whose bytes are on their way when
// ServeHTTP returns (it flushes). A panic of that work is raised again by
// ServeHTTP. On HTTP/2, where each request has a goroutine of its own, the
// work is done in ServeHTTP.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Broker == nil {
		panic("longpoll: Handler.Broker is nil")
	}
	x := &exchange{h: h, w: w, r: r, aside: r.ProtoMajor == 1}
	defer x.exit()
	x.do(stepStart)
	for x.wait {
		<-x.st.w.ch
		x.do(stepNext)
	}
}

// An exchange is a request served by ServeHTTP.
type exchange struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	aside bool // do the steps on goroutines of their own
	done  chan struct{}
	buf   *connResponse // an error answer, on HTTP/1

	// Set by the steps.
	st      *state
	entered bool // Handler.enter let it in: exit is ServeHTTP's to call
	held    bool // startHold made it a waiter
	wait    bool // wait for st.w.ch, then take stepNext
	p       any  // a step's panic
}

// The steps of an exchange.
const (
	stepStart = iota // parse, read, hold or answer
	stepNext         // after a notification: answer, or wait again
)

// do takes step: on a goroutine of its own when x.aside, waiting for it.
func (x *exchange) do(step int) {
	if !x.aside {
		x.step(step)
		return
	}
	if x.done == nil {
		x.done = make(chan struct{})
	}
	go x.stepAside(step)
	<-x.done
	if p := x.p; p != nil {
		x.p = nil
		panic(p)
	}
}

func (x *exchange) stepAside(step int) {
	defer func() {
		x.p = recover()
		x.done <- struct{}{}
	}()
	x.step(step)
}

func (x *exchange) step(step int) {
	h, r := x.h, x.r
	if step == stepStart {
		x.st = h.begin(x.out(), r)
		if x.st == nil {
			x.commit()
			return
		}
		x.buf = nil // unused: not kept while held
		if x.st.hold && h.handOver(x.w, r, x.st) {
			return // held by a goroutine of its own, which calls exit
		}
		x.entered = true
		if !x.st.hold || x.st.err != nil || !h.startHold(r.Context(), x.st, nil) {
			x.end()
			return
		}
		x.held = true
	}
	if x.wait = h.next(r.Context(), x.st); !x.wait {
		x.end()
	}
}

// end releases the hold and writes the answer.
func (x *exchange) end() {
	if x.held {
		x.h.endHold(x.st)
	}
	if x.st.err == nil {
		x.h.finish(x.w, x.r, x.st) // a batch, with its Content-Length
		x.flush()
		return
	}
	x.h.finish(x.out(), x.r, x.st)
	x.commit()
}

// out is where an error answer is written: on HTTP/1, a buffer that commit
// writes and flushes with its Content-Length, as net/http would have.
func (x *exchange) out() http.ResponseWriter {
	if !x.aside {
		return x.w
	}
	x.buf = &connResponse{hdr: x.w.Header()}
	return x.buf
}

// commit writes the answer buffered by out, if any.
func (x *exchange) commit() {
	c := x.buf
	if c == nil || c.status == 0 {
		return
	}
	if _, ok := c.hdr["Content-Length"]; !ok && x.r.Method != http.MethodHead {
		c.hdr.Set("Content-Length", strconv.Itoa(len(c.body)))
	}
	x.w.WriteHeader(c.status)
	if len(c.body) > 0 {
		_, _ = x.w.Write(c.body)
	}
	x.flush()
}

func (x *exchange) exit() {
	if x.entered {
		x.h.exit()
	}
}

func (x *exchange) flush() {
	if x.aside {
		_ = http.NewResponseController(x.w).Flush()
	}
}

// begin parses and checks r and reads what follows its cursor. It answers
// errors itself and then returns nil.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) *state {
	req, ok := pollwire.Parse(w, r, pollwire.Config{Topic: h.Topic, Authorize: h.Authorize, Auth: h.Auth, Limit: h.limit(),
		Timeout: h.timeout(), Metrics: h.Metrics, Transport: transport})
	if !ok {
		return nil
	}
	wait := req.Wait
	if r.Method == http.MethodHead {
		wait = 0 // its answer carries no message: holding it is pointless
	}
	if id := req.Identity; id != nil && !id.Expires.IsZero() {
		// A held request does not outlive its credentials: it is answered
		// by then, and the next one needs fresh credentials.
		wait = max(min(wait, time.Until(id.Expires)), 0)
	}
	stop, ok := h.enter()
	if !ok {
		closeConn(w)
		pollwire.WriteError(w, bus.ErrClosed, h.retryAfter())
		if h.Metrics != nil {
			h.Metrics.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Topic: req.Topic,
				Status: http.StatusServiceUnavailable, Outcome: metrics.ReasonShutdown})
		}
		return nil
	}
	st := &state{req: req, wait: wait, stop: stop}
	h.first(r.Context(), st)
	return st
}

// finish writes the answer of st.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, st *state) {
	w.Header().Set("Cache-Control", "no-store")
	if h.stopped(st) {
		closeConn(w)
	}
	switch {
	case st.err == errGone:
		return
	case st.err == errOverCapacity:
		pollwire.WriteOverCapacity(w, h.retryAfter())
		pollwire.Refused(h.Metrics, transport, st.req.Topic, http.StatusServiceUnavailable)
		return
	case st.err != nil:
		h.fail(w, r, st.req, st.err)
		return
	}
	body, n := st.body, st.nmsgs
	if body == nil {
		body, n = pollwire.AppendRawBatch(nil, st.raws, st.cursor), len(st.raws)
	}
	pollwire.Delivered(h.Metrics, transport, st.req.Topic, n, len(body)) // before the client can see it
	pollwire.WriteBatch(w, r, body)
}

// transport is the Transport of the Handler's metrics.
const transport = "longpoll"

// closeConn makes net/http close the connection after the answer (on
// HTTP/2, end the connection gracefully). After Shutdown this instance
// is leaving: a keep-alive client must reconnect, which lets a load
// balancer send it elsewhere, rather than come back here on the same
// connection for 503s.
func closeConn(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
}

// fail answers err.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, req pollwire.Request, err error) {
	status, _ := pollwire.Classify(err)
	if status >= 500 && h.Logger != nil && r.Context().Err() == nil {
		h.Logger.LogAttrs(r.Context(), slog.LevelError, "longpoll: failed",
			slog.String("topic", req.Topic), slog.String("cursor", req.After), slog.Int("status", status),
			slog.String("remote_addr", r.RemoteAddr), slog.Any("error", err))
	}
	pollwire.WriteError(w, err, h.retryAfter())
	pollwire.Failed(h.Metrics, transport, req.Topic, status)
}
