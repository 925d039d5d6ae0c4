// Package sse streams bus topics as Server-Sent Events (text/event-stream)
// and reads them back with a WHATWG-conformant client that resumes with no
// gap and no duplicate.
//
// [Handler] is an http.Handler: each GET request streams the messages of one
// topic from its cursor on. A HEAD request gets the status and header
// fields a GET would get and no body, so health checks and ServeMux's
// HEAD-matches-GET routing are safe; any other method gets 405 with
// "Allow: GET, HEAD". [Client] implements bus.Subscriber over that
// stream, so consumer code reads from an in-process broker or over SSE
// alike. [Parser] (or [Parse]) reads any event stream on its own, as an
// iterator of events.
//
//	h := &sse.Handler{Broker: b}
//	mux.Handle("GET /events/{topic}", h)
//	srv.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
//
//	sub, err := sse.NewClient("https://example.com/events/{topic}").Subscribe(ctx, "prices", lastID)
//
// # Wire format
//
// A stream opens at once, before any message, with a comment, the
// reconnection time and, when the request had no cursor, the topic's top as
// an id with no data (it moves the client's Last-Event-ID without firing an
// event, so a reconnection resumes from the moment the stream opened):
//
//	:ok
//	retry: 3000
//
//	id: k3v9q2d8ma1-41
//
// Each message is one event: id is the bus message ID, event its Type when
// set, and data its Data split into one data line per line (at CR, LF or
// CRLF). Empty Data is one empty data line, so the event still fires.
//
//	id: k3v9q2d8ma1-42
//	event: price.changed
//	data: {"sym":"ACME",
//	data:  "px":12.5}
//
// While no message is written, a comment line (":") goes out every Heartbeat
// (15 s by default) so proxies keep the stream open.
//
// Consequences of the format: Data arrives as UTF-8 text in which CR and
// CRLF became LF and invalid UTF-8 became U+FFFD (encode binary data, e.g.
// as base64); Meta and Time are not sent. An ID or Type containing CR, LF or
// NUL is never written, and the Type "reset" is reserved: such a message is
// skipped and logged, and the Client reports the gap.
//
// # Cursors and the reset event
//
// A stream starts after the cursor in the Last-Event-ID header, or, when
// the request has none (a browser's first connection), in the
// last_event_id query parameter ([CursorParam]). "0" ([bus.Oldest]) replays
// the whole retained history; no cursor starts at the top; "latest"
// ([bus.Latest]) starts with the topic's newest message, so a page that
// shows a current value has it at once (an id line before it holds the
// cursor that message follows). A malformed cursor is answered 400.
//
// A cursor the broker can no longer serve — older than the history, from
// another epoch, beyond the top — is not an error response but a reset
// event, after which the stream continues live from the top:
//
//	event: reset
//	id: <top>
//	data: {"top":"<top>"}
//
// The id moves a browser's Last-Event-ID to the top, so an EventSource
// simply carries on; the page should reload its state when it sees the
// reset event. The Client ends its subscription with an error wrapping
// bus.ErrCursorExpired, a *bus.CursorError whose Top is the top: reload
// state and subscribe again after it. A stream whose subscriber falls out
// of the history while connected gets the same event before it closes.
//
// # Sizing the history
//
// A client resumes without a reset only while its Last-Event-ID is still
// in the broker's history, so the history must hold what a topic receives
// while a client is away: at least
//
//	rate × (retry time + the client's backoff) × margin
//
// messages. The retry time is Handler.Retry (3 s by default), which
// browsers and the Client honour; the Client adds an exponential backoff
// after failed attempts, up to MaxBackoff. With the defaults (retry 3 s,
// bus.DefaultHistorySize 1,000) every reconnection becomes a reset once a
// topic carries more than about 330 messages per second. For example, 500
// messages per second, clients that should ride out a 5 s restart and a
// margin of 2: 500 × (3 + 5) × 2 = 8,000, so bus.Memory{HistorySize: 8000}
// (or the same field of redisbus and natsbus). Package bus explains the
// rule for every transport.
//
// The Handler warns on its Logger, once per topic, when a reconnecting
// client's Last-Event-ID has left the history (not when it belongs to
// another epoch or lies beyond the top, which no history size prevents),
// with the topic, the cursor, the top, how many messages the client was
// behind, and this advice. It remembers at most 1,024 topics; past them it
// warns once more that further topics are not logged.
//
// # Guarantees
//
//   - With the Client, every message after the cursor arrives exactly once
//     and in order across any number of reconnections; a message that can
//     no longer arrive is reported (bus.ErrCursorExpired), never skipped
//     silently. The Client checks what it receives with a bus.Tracker, as
//     every client of this module does: it drops duplicates, and an ID
//     that does not follow the previous one (or is not a message ID) ends
//     the subscription with a *bus.CursorError wrapping
//     bus.ErrCursorExpired.
//   - A message is encoded once per Handler and the same bytes are written
//     to every stream.
//   - A client that stops reading never delays the others: each stream has
//     its own queue (the bus subscription) and every write its own deadline
//     (WriteTimeout); the stream is cut when either gives out, and the
//     client resumes from its cursor.
//   - A client that reads slowly but steadily is not cut: when its stream
//     falls behind, the subscription reads on from the topic's history
//     and the stream writes whatever is queued at once, up to 16 KiB, in
//     one write and one flush, so the further behind a stream is, the more
//     each write carries. On a hijacked connection (the default for
//     HTTP/1.x) a write waits in slices of a quarter second and reports
//     the bytes the client took meanwhile to the broker (bus.Progress),
//     so only a client that accepts no byte for WriteTimeout, or stops
//     taking bytes for the broker's stall timeout, is cut. A client
//     that falls out of the history gets a reset event, not a cut. On the
//     ResponseWriter and on TLS, where a write cannot resume after a
//     deadline, a write that outlasts the broker's stall timeout counts as
//     no progress.
//   - With WriteDelay set, a stream writes at most once per WriteDelay, so
//     steady traffic shares writes too, not only a backlog: at 1,000
//     streams × 100 messages a second, 50 ms cost 0.4–0.5× the server CPU
//     per delivery of a bare write-and-flush loop for about 15 ms more
//     median latency (BENCHMARKS.md). Zero, the default, writes at once.
//   - A stream outlives http.Server's WriteTimeout and ReadTimeout, which
//     are cleared for it. MaxStreams bounds open streams (503 with
//     Retry-After past it); MaxLifetime ends streams after a jittered time
//     so clients rebalance; Shutdown ends them all promptly.
//   - With Handler.Auth set, a request without valid credentials gets 401
//     (with WWW-Authenticate: Bearer and the reason as the body), one
//     refused the topic 403, and one whose credentials could not be
//     checked 503. A stream ends when its identity expires (package auth);
//     the client reconnects with its cursor and must present fresh
//     credentials. A browser's EventSource sends the same URL and cookies
//     again, so refresh a cookie token before it expires, or, with a token
//     in the query, open a new EventSource with a fresh token and the last
//     id in last_event_id when the old one fails with 401. The Go Client
//     can take a fresh token per request from an http.RoundTripper in its
//     HTTPClient.
//   - Each stream runs on its ServeHTTP call, waiting for messages in a
//     plain channel receive; heartbeats, MaxLifetime and the identity's
//     expiry run on timers, which start a goroutine only when they fire.
//     On Linux one goroutine per
//     Handler waits (epoll) for the clients of all its hijacked streams
//     to close their connections; it starts with the first such stream
//     and has ended when the ServeHTTP of the last returns. Elsewhere,
//     and for connections without a file descriptor, each hijacked
//     stream has a goroutine reading its connection, which has ended
//     when its ServeHTTP returns.
//
// # Connections and memory
//
// On HTTP/1.x a Handler has net/http write the response head (status 200,
// Connection: close, a body that is not chunked), so middleware sees the
// status, then takes the connection over (http.Hijacker, found through
// http.ResponseController, so middleware that implements Unwrap is fine)
// and writes the stream on it directly; the body ends when the connection
// closes. net/http's read and write buffers are released, so an idle
// stream costs its ServeHTTP goroutine, the bus subscription, an entry in
// the watch for clients that close their connections (on Linux; a small
// goroutine reading the connection elsewhere) and a few small structs:
// about 17 KiB of heap and stack (21 KiB RSS) at 10,000 streams in
// BenchmarkIdleStreams, against about 28 KiB with DisableHijack and 26 KiB
// for a minimal hand-written loop (see BENCHMARKS.md, "SSE: hijacked or
// plain streams" and "SSE under overload"). The price: middleware sees no body bytes and cannot
// wrap the writes. Set DisableHijack to keep streams on the
// ResponseWriter; HTTP/2 streams always are. Both ways notice a client
// that closes its connection at once; a client that vanishes without
// closing (a cut network) is noticed only when a write fails (heartbeats
// and WriteTimeout bound that) or TCP keep-alive gives up. Either way an
// HTTP/1.x connection ends with its stream (Connection: close), so a
// client whose stream ended reconnects and a load balancer can send it to
// another instance. Since http.Server.Shutdown neither waits for nor
// closes hijacked connections, register Handler.Shutdown with
// RegisterOnShutdown; it cuts a stream blocked writing to a stalled client
// at once in both ways. After Shutdown, requests are answered 503 with
// Retry-After and Connection: close, so even if the http.Server goes on
// serving, keep-alive clients leave this instance.
//
// # Client connection rules
//
// The Client sends Accept: text/event-stream, Cache-Control: no-cache and,
// when it has a cursor, Last-Event-ID (also on its first request, unlike a
// browser). It follows redirects. A 200 response whose media type is
// text/event-stream is read (parameters such as charset are ignored; the
// stream is always UTF-8); another media type ends the subscription with
// [ErrNotEventStream], and 204 with [ErrStopped]. Other statuses follow
// the retry policy below. A clean end of stream or a network error
// reconnects after the server's retry time plus, while connections keep
// failing, an exponential backoff with jitter, for as long as the context
// lasts.
//
// # Retry policy
//
// The four clients (poll, longpoll, sse, ws) retry and give up alike —
// unlike a browser's EventSource, which gives up on any status but 200:
//
//   - Retried, for as long as the context lasts, after the reconnection
//     time plus an exponential backoff with jitter (up to
//     Client.MaxBackoff): network errors and the statuses 408, 425, 429,
//     500, 502, 503 and 504 (and the other 5xx but 501 and 505), such as
//     the 503 of a Handler over MaxStreams or after Shutdown during a
//     rolling deploy, and the statuses listed in Client.RetryStatuses. The
//     wait is at least the server's Retry-After (seconds or an HTTP date)
//     plus up to a tenth at random, and at most 10 minutes however long it
//     asks.
//   - Not retried: 400, 401, 403, 404 and every other status. Subscribe
//     returns a [*StatusError] carrying the status and the server's
//     message, or, when the refusal comes on a reconnection, the
//     subscription ends and its Err returns it; errors.As finds it in
//     both.
//
// # Zero values and concurrency
//
// A Handler needs only its Broker; a Client only its URL. Their other
// fields default as documented and must not be changed after first use.
// Both are safe for concurrent use. A Parser is for one goroutine.
package sse
