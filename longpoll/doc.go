// Package longpoll serves a topic of a [bus.Broker] to long-polling clients,
// and long-polls such a server: near-push latency over plain
// request/response, for networks where streaming is blocked.
//
// [Handler] answers GET at once when messages follow the cursor, and
// otherwise holds the request until one is published or a timeout passes;
// [Client] asks again as soon as it has an answer and implements
// [bus.Subscriber].
//
// # Request
//
//	GET /path?topic=orders&after=<cursor>&timeout=<seconds>&limit=<n>
//
// The parameters:
//
//   - topic: the {topic} path value of the route, else this parameter
//     (Handler.Topic can replace the rule).
//   - after: the cursor, with the meaning the next section gives it.
//   - timeout: how long the client accepts to wait, in seconds (decimals
//     allowed). It can shorten Handler.Timeout (default 25 s, below the
//     60 s after which nginx and other proxies give up), never lengthen it.
//     timeout=0 answers at once. A HEAD request is never held: it gets the
//     head of the answer a GET with timeout=0 would get.
//   - limit: the most messages wanted, capped by Handler.Limit (default
//     100).
//
// # Cursors
//
// The after parameter of the Handler and the after argument of
// [Client.Subscribe] take the same cursors, with the same meaning in
// package poll and the meaning every [bus.Subscriber] gives them:
//
//	(absent) or ""     from now on: the request waits, from the topic's
//	                   top, for the next message published; the answer's
//	                   cursor, even when it has no message, continues with
//	                   no gap
//	latest ([Latest])  the current state, then what follows it: the newest
//	                   retained message at once, with its ID as the cursor;
//	                   while the topic retains none, as with no cursor
//	0 ([bus.Oldest])   every retained message, oldest first, then what
//	                   follows
//	0-0 ([bus.Origin]) from the topic's first message, while it is retained
//	a message ID       what follows it, at once or when it is published
//
// A dashboard that shows a current value and keeps it up to date asks, or
// subscribes, with latest; a consumer that only cares about what happens
// next with no cursor. Package sse starts a stream without Last-Event-ID,
// and package ws a subscription without after, from now on as well.
//
// # Answer
//
// 200, Content-Type application/json, Cache-Control no-store, in the schema
// package poll documents:
//
//	{"messages":[{"id":"k3v9q2d8ma1-42","type":"order.created","data":"...",
//	  "time":"2026-11-27T05:00:00.123456789Z","meta":{"k":"v"}}],
//	 "cursor":"k3v9q2d8ma1-42"}
//
// "data" is the payload as a JSON string when it is valid UTF-8, else its
// standard base64 with "encoding":"base64"; type and meta are JSON strings,
// or all base64 with "metaEncoding":"base64" when one of them is not valid
// UTF-8. Bytes round-trip exactly.
//
// Every answer carries a cursor. A request that timed out, or that
// Shutdown ended, gets 200 with no message and the cursor it should send
// next: the same as its own, or the top when it sent none, latest or 0.
// Messages published in the same millisecond are all delivered: cursors
// are positions, not times.
//
// # Errors
//
// Errors have a real status and a JSON body
// {"error":"<code>","message":"<detail>"}, with Cache-Control: no-store:
//
//	400 invalid_topic      no topic, or an invalid name (bus.ErrInvalidTopic)
//	400 invalid_cursor     "after" is not a cursor (bus.ErrInvalidCursor)
//	400 invalid_parameter  "limit" or "timeout" is not a number >= 0
//	401 unauthorized       Handler.Auth found no valid credentials (with
//	                       WWW-Authenticate: Bearer; message says why)
//	403 forbidden          Handler.Auth or Handler.Authorize refused the
//	                       topic
//	405 method_not_allowed not GET or HEAD (with Allow)
//	410 cursor_expired     the cursor left the history or belongs to another
//	                       epoch (bus.ErrCursorExpired); "top" holds the
//	                       topic's current top: reload, then wait after it
//	503 over_capacity      Handler.MaxHeld requests are already held, with
//	                       Retry-After
//	503 unavailable        after Shutdown (with Connection: close), the
//	                       broker is closed or failing, or Handler.Auth
//	                       could not check the credentials, with Retry-After
//	500 internal           anything else
//
// # Resources
//
// A held request costs the goroutine net/http already runs for it and a
// waiter of about a kilobyte: no goroutine or timer of its own. On HTTP/1
// that goroutine, which serves the connection's requests one after the
// other, keeps its smallest stack (4 KiB) while a request is held: the
// Handler parses requests, reads the broker and writes answers on
// short-lived goroutines, so that no answer leaves the 8 KiB that writing
// it takes in the goroutine where the next request is held. The
// requests held on one topic share a broker subscription and a timer for
// their deadlines, run by one goroutine that ends with the last of them.
// Each message is encoded once for all of them, and when several messages
// arrive at once (a burst) the requests they wake are answered with all of
// them, up to their limit, in one body built once for every request with
// the same cursor and limit. A client that disconnects frees its waiter at
// once. At most Handler.MaxHeld requests (default 10,000) are held;
// requests that can be answered at once are never refused for that.
//
// Most of that cost is net/http's own (its goroutine, read and write
// buffers and request state for the connection). Serving through
// [Handler.Listener] takes a held HTTP/1.1 request out of net/http: its
// connection is hijacked, one small goroutine waits for the answer and
// notices a client that leaves, writes the answer, and hands the
// connection back to the http.Server, so keep-alive goes on as before.
// That brings a held request from about 21 KiB of heap and stacks to about
// 5 KiB (BENCHMARKS.md, "Long polling under load"); the Listener
// documentation says what middleware sees then.
//
// [Handler.Shutdown] answers every held request at once and refuses new
// ones; hook it to http.Server.RegisterOnShutdown, which does not end held
// requests by itself. After Shutdown every answer closes its connection
// (Connection: close), so a keep-alive client reconnects, and a load
// balancer can send it to another instance, even if the http.Server goes
// on serving.
//
// # Client
//
// [Client] makes a first request with timeout=0, so Subscribe reports a
// refused topic, cursor or authorization at once, then asks again as soon
// as each answer arrives (after a pause when an empty answer came back in
// under 100 ms: a server or proxy that does not hold requests cannot make it
// spin). It retries failed requests as the retry policy below says; 410
// ends the subscription with a [*bus.CursorError] wrapping
// [bus.ErrCursorExpired] with the server's top ([bus.TopOf]). It checks
// continuity with a [bus.Tracker], as every client of this module does:
// every ID must follow the previous one ([bus.Position.Follows]); it drops
// duplicates and ends with a *bus.CursorError wrapping bus.ErrCursorExpired
// on a gap rather than skip anything.
//
// # Retry policy
//
// The four clients (poll, longpoll, sse, ws) retry and give up alike:
//
//   - Retried, for as long as the context lasts, after an exponential
//     backoff with jitter (Client.MinBackoff to Client.MaxBackoff): network
//     errors and the statuses 408, 425, 429, 500, 502, 503 and 504 (and
//     the other 5xx but 501 and 505), such as the 503 of a Handler over
//     MaxHeld or after Shutdown during a rolling deploy. The wait is at
//     least the server's Retry-After (seconds or an HTTP date) plus up to
//     a tenth at random, and at most 10 minutes however long it asks. The
//     first request is retried too, before Subscribe returns.
//   - Not retried: 400, 401, 403, 404 and every other status. Subscribe
//     returns a [*StatusError] carrying the status and the server's
//     message, or, when the refusal comes later, the subscription ends and
//     its Err returns it; errors.As finds it in both. A 410 or a 400
//     invalid_cursor or invalid_topic wraps the bus sentinel as well.
//
// # Zero values and concurrency
//
// A Handler needs Broker; its other fields have working zero values. A
// Client needs URL. Both are safe for concurrent use and must not be changed
// once in use. The Handler starts no goroutine that outlives a call of its
// ServeHTTP, except for requests held outside net/http
// (Handler.Listener): one each, which ends
// when its request is answered or its client leaves, and one per Listener
// that accepts connections, which ends with Close; Shutdown waits for the
// former. Each subscription of a Client runs one, which ends before Close
// returns.
package longpoll
