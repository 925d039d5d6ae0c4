package sse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/enccache"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Handler's fields.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = 3 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// CursorParam is the query parameter a Handler reads the cursor from when a
// request has no Last-Event-ID header, as on a browser's first connection:
// new EventSource("/events/prices?last_event_id=" + id).
const CursorParam = "last_event_id"

// Handler streams the messages of one topic per GET request as Server-Sent
// Events. HEAD gets the head of a stream and no body; other methods get 405.
// See the package documentation for the wire format.
//
// Broker is required; every other field has a useful zero value. Fields
// must not be changed after the first ServeHTTP. A Handler is safe for
// concurrent use and must not be copied after first use.
type Handler struct {
	// Broker supplies the messages. Required. A stream ends by cancelling
	// its subscription's context, so the broker's subscriptions must end
	// when their context does, as bus.Broker requires (every broker of
	// this module's does).
	Broker bus.Broker
	// Topic returns the topic of a request. Nil means the {topic} path
	// value, then the "topic" query parameter. An error wrapping
	// bus.ErrInvalidTopic is answered 400; any other error 404.
	Topic func(*http.Request) (string, error)
	// Auth, when set, authenticates every request (401 without valid
	// credentials) and authorizes it to subscribe to the topic (403); see
	// package auth. A stream ends when its identity expires, and the
	// client reconnects with fresh credentials from its cursor. Nil means
	// no authentication.
	Auth auth.Authorizer
	// Authorize, when set, is called before anything is streamed, after
	// Auth allowed the request; an error is answered 403 and the stream is
	// not opened. The identity Auth found is in r's context
	// (auth.FromContext).
	Authorize func(r *http.Request, topic string) error
	// Heartbeat is the interval of comment lines sent while no message is,
	// so proxies keep the stream open. Zero means DefaultHeartbeat; a
	// negative value sends none. Heartbeats are not needed to notice
	// clients that close their connections: that is noticed at once.
	Heartbeat time.Duration
	// Retry is the reconnection time sent to clients in the retry field
	// when a stream opens, rounded down to milliseconds. Zero means
	// DefaultRetry; a negative value sends none.
	Retry time.Duration
	// WriteTimeout is how long a client may accept no byte of a write
	// before its stream is cut (on the ResponseWriter and on TLS: how long
	// a write may take), so a client that stops reading is cut while one
	// that reads slowly is not. It replaces the http.Server's
	// WriteTimeout, which is cleared for the stream. Zero means
	// DefaultWriteTimeout; a negative value sets no limit.
	WriteTimeout time.Duration
	// WriteDelay, when positive, is the least time between two writes of
	// a stream: the messages that arrive meanwhile wait and go out
	// together in the next write, with one flush. It trades latency (up to
	// WriteDelay more per message) for CPU when many streams receive
	// steady traffic: at 100 messages a second, 20 ms halves a stream's
	// writes and wake-ups. Keep it short (tens of milliseconds): a stream
	// waiting out its delay notices a departed client or Shutdown only
	// afterwards. Zero writes each message as soon as it arrives, together
	// with whatever is queued already.
	WriteDelay time.Duration
	// MaxStreams caps the streams open at once; past it a request is
	// answered 503 with Retry-After. Zero means no limit.
	MaxStreams int
	// MaxLifetime, when positive, ends each stream cleanly after a random
	// time between 80% and 100% of it. The client resumes from its cursor,
	// possibly on another instance, so long-lived streams rebalance.
	MaxLifetime time.Duration
	// DisableHijack keeps HTTP/1.x streams on the ResponseWriter (chunked,
	// flushed through http.ResponseController) instead of taking over the
	// connection. By default a Handler has net/http write the response
	// head (so middleware sees the 200), then hijacks the HTTP/1.x
	// connection and writes the stream on it directly: that releases
	// net/http's 4 KiB read and write buffers and its 2 KiB response
	// buffer, about 30% of the memory of an idle stream (see "Connections
	// and memory" in the package documentation), but middleware sees no
	// body bytes and cannot wrap the writes (compression, say). Both ways
	// are supported alike: a client that closes its connection ends its
	// stream at once, and Shutdown cuts a blocked write at once. HTTP/2
	// streams always use the ResponseWriter.
	DisableHijack bool
	// Logger receives the errors that cannot be reported to the client,
	// and a warning, once per topic, when a reconnecting client's
	// Last-Event-ID has left the topic's history (see "Sizing the
	// history" in the package documentation). Nil means nothing is
	// logged.
	Logger *slog.Logger
	// Metrics, when set, is told of each refusal (Refused), each stream
	// (ConnOpened, and when it ends ConnClosed), each write of messages
	// (Delivered) and each reset event sent (Reset), as Transport "sse";
	// see package metrics. Nil means no metrics.
	Metrics metrics.Recorder

	initOnce sync.Once
	pollMu   sync.Mutex
	poll     *poller       // watches hijacked streams' connections; nil while none
	stop     chan struct{} // closed by Shutdown
	mu       sync.Mutex
	streams  int
	shut     bool
	drained  chan struct{}        // closed when the last stream ends after Shutdown
	open     map[*stream]struct{} // streams, whose writes Shutdown cuts
	cache    enccache.Cache

	warnMu   sync.Mutex
	warned   map[string]struct{} // topics warned about by warnExpired
	warnFull bool                // the warning that warned is full has been logged
	warnCap  int                 // the most topics in warned; 0 means maxWarned (tests lower it)
}

// maxWarned bounds the topics a Handler remembers having warned about, so
// that many topics cannot grow its memory without bound.
const maxWarned = 1024

func (h *Handler) init() {
	h.initOnce.Do(func() { h.stop = make(chan struct{}) })
}

func (h *Handler) heartbeat() time.Duration {
	if h.Heartbeat == 0 {
		return DefaultHeartbeat
	}
	return h.Heartbeat
}

func (h *Handler) retry() time.Duration {
	if h.Retry == 0 {
		return DefaultRetry
	}
	return h.Retry
}

func (h *Handler) writeTimeout() time.Duration {
	if h.WriteTimeout == 0 {
		return DefaultWriteTimeout
	}
	return h.WriteTimeout
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// Streams returns the number of streams open now. It is meant for metrics
// and tests.
func (h *Handler) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams
}

// Shutdown ends every open stream, refuses new ones with 503 and waits
// until their ServeHTTP calls have returned or ctx is done. The 503
// answers carry "Connection: close" and an HTTP/1.x stream's connection
// ends with the stream, so clients reconnect, through a load balancer to
// another instance, even while the http.Server keeps serving. A stream
// blocked writing to a stalled client is cut at once in both modes: a
// hijacked connection is closed, a write on a ResponseWriter gets a
// deadline that has passed. Other streams get a second for their last
// bytes.
// http.Server.Shutdown does not end streams; register this with
// RegisterOnShutdown:
//
//	srv.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
func (h *Handler) Shutdown(ctx context.Context) error {
	h.init()
	h.mu.Lock()
	if !h.shut {
		h.shut = true
		close(h.stop)
		// A stream blocked writing to a stalled client ends now rather
		// than after WriteTimeout.
		for s := range h.open {
			s.end(endShutdown)
			s.cut()
		}
	}
	if h.streams == 0 {
		h.mu.Unlock()
		return nil
	}
	if h.drained == nil {
		h.drained = make(chan struct{})
	}
	drained := h.drained
	h.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquire takes a stream slot; with take false it only checks that one is
// free.
func (h *Handler) acquire(take bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.shut:
		return ErrShutdown
	case h.MaxStreams > 0 && h.streams >= h.MaxStreams:
		return fmt.Errorf("%w: %d open", ErrTooManyStreams, h.streams)
	}
	if take {
		h.streams++
	}
	return nil
}

func (h *Handler) release() {
	h.mu.Lock()
	h.streams--
	if h.streams == 0 && h.drained != nil {
		close(h.drained)
		h.drained = nil
	}
	h.mu.Unlock()
}

// track registers a stream for Shutdown. It reports false when Shutdown
// has begun.
func (h *Handler) track(s *stream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shut {
		return false
	}
	if h.open == nil {
		h.open = make(map[*stream]struct{})
	}
	h.open[s] = struct{}{}
	return true
}

// untrack forgets a stream: Shutdown no longer cuts it.
func (h *Handler) untrack(s *stream) {
	h.mu.Lock()
	delete(h.open, s)
	h.mu.Unlock()
}

// fail answers a request that gets no stream.
func (h *Handler) fail(w http.ResponseWriter, err error) { h.failOn(w, "", err) }

// failOn is fail for a request for topic ("" when not known yet).
func (h *Handler) failOn(w http.ResponseWriter, topic string, err error) {
	code := statusOf(err)
	h.refused(code, topic, err)
	msg := err.Error()
	switch code {
	case http.StatusForbidden:
		msg = ErrForbidden.Error() // the reason stays on the server
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", auth.Challenge(err))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", allowed)
	case http.StatusServiceUnavailable:
		secs := max(int((h.retry()+time.Second-1)/time.Second), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		// This instance is leaving or full: a keep-alive client must not
		// come back on the same connection for 503s, but reconnect, which
		// lets a load balancer send it elsewhere. net/http closes the
		// connection after the answer (HTTP/2: ends it gracefully).
		w.Header().Set("Connection", "close")
	case http.StatusInternalServerError:
		h.logger().Error("sse: stream not opened", "error", err)
	}
	http.Error(w, msg, code)
}

// ServeHTTP implements http.Handler: it streams the messages of the
// request's topic that follow the request's cursor until the client goes
// away, the subscription ends, MaxLifetime passes or Shutdown is called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Broker == nil {
		panic("sse: Handler.Broker is nil")
	}
	h.init()
	head := r.Method == http.MethodHead
	if r.Method != http.MethodGet && !head {
		h.fail(w, fmt.Errorf("%w: %s", errMethod, r.Method))
		return
	}
	var id *auth.Identity
	if h.Auth != nil {
		var err error
		if r, id, err = auth.Authenticate(h.Auth, r); err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				err = fmt.Errorf("%w: %w", errAuthUnavailable, err)
			}
			h.fail(w, err)
			return
		}
	}
	topic, err := httptopic.Resolve(r, h.Topic)
	if err != nil {
		if !errors.Is(err, bus.ErrInvalidTopic) {
			err = fmt.Errorf("%w: %w", errTopicFunc, err)
		}
		h.fail(w, err)
		return
	}
	if h.Auth != nil {
		if err := h.Auth.Authorize(r.Context(), id, auth.Subscribe, topic); err != nil {
			h.failOn(w, topic, fmt.Errorf("%w: %w", ErrForbidden, err))
			return
		}
	}
	if h.Authorize != nil {
		if err := h.Authorize(r, topic); err != nil {
			h.failOn(w, topic, fmt.Errorf("%w: %w", ErrForbidden, err))
			return
		}
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get(CursorParam)
	}
	if _, err := bus.ParseCursor(topic, cursor); err != nil && cursor != bus.Latest {
		h.failOn(w, topic, fmt.Errorf("sse: Last-Event-ID: %w", err))
		return
	}
	ctx := r.Context()
	hdr := w.Header()
	if head {
		// The head a GET would get, and no stream: the answer ends here.
		if err := h.acquire(false); err != nil {
			h.failOn(w, topic, err)
			return
		}
		if _, err := h.Broker.Top(ctx, topic); err != nil {
			h.failOn(w, topic, err)
			return
		}
		setStreamHeader(hdr)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.acquire(true); err != nil {
		h.failOn(w, topic, err)
		return
	}
	defer h.release()

	// Whatever ends the stream cancels sctx, which ends the subscription.
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	sub, prelude, err := h.subscribe(sctx, topic, cursor)
	if err != nil {
		h.failOn(w, topic, err)
		return
	}
	defer sub.Close()
	defer auth.Join(ctx, h.Auth, id, topic)()

	setStreamHeader(hdr)
	rc := http.NewResponseController(w)
	s := &stream{h: h, w: w, rc: rc, sub: sub, topic: topic, ctx: sctx, stop: stop}
	if id != nil {
		s.expires = id.Expires
	}
	if !h.DisableHijack && r.ProtoMajor == 1 && reaches(w, isHijacker) {
		// net/http writes the head, so middleware sees the status and
		// the head is the server's own (Date, Connection: close).
		// "identity" asks it for a body that is neither chunked nor kept
		// alive: the stream ends when the connection closes, as net/http
		// does for Server-Sent Events.
		hdr.Set("Transfer-Encoding", "identity")
		w.WriteHeader(http.StatusOK)
		conn, rw, err := rc.Hijack() // sends the head
		if err != nil {
			return // the head is written: no other way is left
		}
		s.conn = conn
		_, isTLS := conn.(*tls.Conn)
		s.sliced = !isTLS
		if !h.track(s) {
			conn.Close()
			return
		}
		// The connection and net/http's buffers for it are ours now.
		// Writes go straight to the connection, and nothing reads it but
		// the watch for its end, so net/http's buffers are released at
		// once.
		*rw.Reader = bufio.Reader{}
		*rw.Writer = bufio.Writer{}
		// Hijack cleared the server's ReadTimeout and WriteTimeout
		// deadlines, which would end a healthy stream; each write gets
		// its own deadline instead.
		w := h.watchConn(conn, func() { s.end(endGone) })
		// The watch has ended when ServeHTTP returns.
		defer func() {
			h.untrack(s)
			w.stop()
			_ = conn.Close()
			h.waitWatch(w)
		}()
	}
	if s.conn == nil {
		if r.ProtoMajor == 1 {
			// As on a hijacked connection, the connection ends with the
			// stream, so a client whose stream ended (Shutdown,
			// MaxLifetime) reconnects and can reach another instance
			// rather than come back here on the same connection.
			hdr.Set("Connection", "close")
		}
		if !reaches(w, isFlusher) {
			// Nothing was written: the writer cannot flush at all.
			for _, k := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering", "Connection"} {
				hdr.Del(k)
			}
			h.fail(w, fmt.Errorf("sse: the ResponseWriter cannot flush (wrap it with an Unwrap method): %w", http.ErrNotSupported))
			return
		}
		w.WriteHeader(http.StatusOK) // through middleware, which sees the status
		if err := rc.Flush(); err != nil {
			return // the client is gone
		}
		// The server's WriteTimeout and ReadTimeout are absolute: they
		// would cut a healthy stream. Each write gets its own deadline
		// instead.
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		if !h.track(s) {
			return
		}
		defer func() {
			h.untrack(s)
			// Once untracked no cut can follow: give the end of the
			// chunked body, which net/http writes after ServeHTTP
			// returns, a deadline of its own rather than a cut's past one.
			s.deadline()
		}()
	}
	s.run(ctx, prelude)
}

// allowed is the Allow header of a 405 answer.
const allowed = "GET, HEAD"

// setStreamHeader sets the header fields of a stream.
func setStreamHeader(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
}

// reaches reports whether w, or a ResponseWriter it wraps (through Unwrap
// methods, as http.ResponseController finds it), can do what can checks.
func reaches(w http.ResponseWriter, can func(http.ResponseWriter) bool) bool {
	for range 64 { // bounds a chain of Unwrap that loops
		if can(w) {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

func isHijacker(w http.ResponseWriter) bool {
	_, ok := w.(http.Hijacker)
	return ok
}

func isFlusher(w http.ResponseWriter) bool {
	switch w.(type) {
	case http.Flusher, interface{ FlushError() error }:
		return true
	}
	return false
}

// subscribe opens the subscription for cursor and returns the bytes to send
// before any message: a comment, the retry field, and either the id of the
// topic's top (for an empty cursor, so the client's Last-Event-ID is set
// from the start) or a reset event (for a cursor that cannot be served).
func (h *Handler) subscribe(ctx context.Context, topic, cursor string) (bus.Subscription, []byte, error) {
	prelude := []byte(":ok\n")
	if d := h.retry(); d > 0 {
		prelude = append(prelude, "retry: "...)
		prelude = strconv.AppendInt(prelude, d.Milliseconds(), 10)
		prelude = append(prelude, '\n')
	}
	prelude = append(prelude, '\n')
	var reset bool
	fromClient := cursor != "" && cursor != bus.Latest
	latest := cursor == bus.Latest
	// No cursor: from the top. Latest: the newest message first, so the
	// cursor before it (the top when the topic retains none). In both the
	// client's Last-Event-ID is set from the start.
	resolve := func() (string, error) {
		if latest {
			return bus.LatestCursor(ctx, h.Broker, topic)
		}
		return h.Broker.Top(ctx, topic)
	}
	if !fromClient {
		var err error
		if cursor, err = resolve(); err != nil {
			return nil, nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		sub, err := h.Broker.Subscribe(ctx, topic, cursor)
		if err == nil {
			switch {
			case reset:
				prelude = appendReset(prelude, cursor)
				if h.Metrics != nil {
					h.Metrics.Record(metrics.Event{Kind: metrics.Reset, Transport: transport, Topic: topic})
				}
			case !fromClient:
				prelude = append(prelude, "id: "...)
				prelude = append(prelude, cursor...)
				prelude = append(prelude, "\n\n"...)
			}
			return sub, prelude, nil
		}
		if !errors.Is(err, bus.ErrCursorExpired) || attempt == 3 {
			return nil, nil, err
		}
		if latest {
			// The newest message left the history meanwhile (trimmed by
			// newer ones, or expired): start with the newest again.
			if cursor, err = resolve(); err != nil {
				return nil, nil, err
			}
			continue
		}
		top, ok := bus.TopOf(err)
		if !ok {
			if top, err = h.Broker.Top(ctx, topic); err != nil {
				return nil, nil, err
			}
		}
		if attempt == 0 && fromClient {
			h.warnExpired(ctx, topic, cursor, top)
		}
		cursor, reset = top, true
	}
}

// warnExpired logs, once per topic, that a reconnecting client's cursor
// has left the topic's history, with advice on sizing it. A cursor from
// another epoch or beyond the top says nothing about the history's size
// and is not logged. At most maxWarned topics are remembered: past them,
// one more warning says so and further topics are not logged.
func (h *Handler) warnExpired(ctx context.Context, topic, cursor, top string) {
	if h.Logger == nil {
		return
	}
	c, err := bus.ParseID(cursor)
	if err != nil {
		return
	}
	t, err := bus.ParseID(top)
	if err != nil || t.Epoch != c.Epoch || t.Offset <= c.Offset {
		return
	}
	limit := h.warnCap
	if limit <= 0 {
		limit = maxWarned
	}
	h.warnMu.Lock()
	_, seen := h.warned[topic]
	full := !seen && len(h.warned) >= limit
	overflow := full && !h.warnFull
	switch {
	case full:
		h.warnFull = true
	case !seen:
		if h.warned == nil {
			h.warned = make(map[string]struct{})
		}
		h.warned[topic] = struct{}{}
	}
	h.warnMu.Unlock()
	switch {
	case overflow:
		h.Logger.LogAttrs(ctx, slog.LevelWarn,
			"sse: reconnecting clients' Last-Event-ID left the history of more topics than are warned about one by one; further topics are not logged",
			slog.Int("topics", limit))
	case !seen && !full:
		attrs := []slog.Attr{slog.String("topic", topic), slog.String("cursor", cursor),
			slog.String("top", top), slog.Uint64("behind", t.Offset-c.Offset)}
		if d := h.retry(); d > 0 {
			attrs = append(attrs, slog.Duration("retry", d))
		}
		h.Logger.LogAttrs(ctx, slog.LevelWarn,
			"sse: a reconnecting client's Last-Event-ID has left the topic's history, so it got a reset event and must reload its state;"+
				" size the broker's history to at least the topic's message rate × (the retry time + the clients' backoff), with a margin of about 2"+
				" (see package bus); logged once per topic", attrs...)
	}
}
