// Package poll serves a topic of a [bus.Broker] to short-polling clients,
// and polls such a server: the simplest pattern that works everywhere,
// including behind proxies that break streaming.
//
// [Handler] answers GET at once with the messages after a cursor; [Client]
// polls it at an interval and implements [bus.Subscriber], so consumers read
// a remote topic as they read a local broker.
//
// # Request
//
//	GET /path?topic=orders&after=<cursor>&limit=<n>
//
// The parameters:
//
//   - topic: the {topic} path value of the route, else this parameter
//     (Handler.Topic can replace the rule).
//   - after: the cursor, with the meaning the next section gives it.
//   - limit: the most messages wanted, capped by Handler.Limit (default
//     100). limit=0 returns no message, only the cursor (the topic's top
//     for no cursor, latest and 0): the cheap way to learn the top before
//     polling for what comes next.
//
// HEAD is answered like GET, without the body.
//
// # Cursors
//
// The after parameter of the Handler and the after argument of
// [Client.Subscribe] take the same cursors, with the same meaning in
// package longpoll and the meaning every [bus.Subscriber] gives them:
//
//	(absent) or ""     from now on: no message, and the topic's top as the
//	                   cursor, so the next poll gets what is published next
//	latest ([Latest])  the current state: the newest retained message only,
//	                   with its ID as the cursor (no message and the top
//	                   while the topic retains none), then what follows it
//	0 ([bus.Oldest])   every retained message, oldest first, then what
//	                   follows
//	0-0 ([bus.Origin]) from the topic's first message, while it is retained
//	a message ID       the messages that follow it
//
// A dashboard that shows a current value and keeps it up to date polls, or
// subscribes, with latest; a consumer that only cares about what happens
// next with no cursor. ("" meant the newest message on this Handler in
// earlier versions; that is what latest now means.) Package sse starts a
// stream without Last-Event-ID, and package ws a subscription without
// after, from now on as well, and both take latest too ([bus.Latest]).
//
// # Answer
//
// 200, Content-Type application/json:
//
//	{
//	  "messages": [
//	    {
//	      "id":   "k3v9q2d8ma1-42",            // the message ID, a cursor
//	      "type": "order.created",             // omitted when empty
//	      "data": "{\"sku\":\"A1\"}",          // the payload, see below
//	      "encoding": "base64",                // only when data is base64
//	      "time": "2026-11-27T05:00:00.123456789Z", // RFC 3339, UTC
//	      "meta": {"trace": "abc"},            // omitted when empty
//	      "metaEncoding": "base64"             // only when type and meta are base64
//	    }
//	  ],
//	  "cursor": "k3v9q2d8ma1-42"
//	}
//
// Every answer carries a cursor: send it as "after" in the next request to
// get what follows, with no gap and no duplicate. It is the ID of the last
// message, or the request's cursor when nothing followed it (the topic's
// top for no cursor, latest and 0).
//
// Payloads are bytes and round-trip exactly. When Data is valid UTF-8 it is
// the JSON string "data" (decode the string, take its UTF-8 bytes); else
// "data" holds its standard base64 (RFC 4648, padded) and "encoding" is
// "base64". Type, meta keys and meta values are JSON strings as well, unless
// one of them is not valid UTF-8: then all of them are base64 and
// "metaEncoding" is "base64". "time" is left out for a zero time or one
// outside the years 0–9999. Meta keys are sorted, so equal answers are equal
// bytes.
//
// # Headers and conditional requests
//
// A 200 or 304 answer carries:
//
//   - ETag: a strong tag naming the topic and the answer's cursor. A
//     request whose If-None-Match holds that tag (or *) and whose answer
//     would end at the same cursor gets 304 Not Modified with no body. A
//     client can send the tag of its previous answer with the next request:
//     the 304 then means "nothing after your cursor", at the cost of a
//     header.
//   - Cache-Control: no-cache, so caches, shared ones included, revalidate
//     every time.
//   - X-Poll-Interval: the seconds (possibly decimal) the server asks
//     clients to wait between polls (Handler.Interval, default 2).
//
// # Errors
//
// Errors have a real status and a JSON body
// {"error":"<code>","message":"<detail>"}, with Cache-Control: no-store:
//
//	400 invalid_topic      no topic, or an invalid name (bus.ErrInvalidTopic)
//	400 invalid_cursor     "after" is not a cursor (bus.ErrInvalidCursor)
//	400 invalid_parameter  "limit" is not a number >= 0
//	401 unauthorized       Handler.Auth found no valid credentials (with
//	                       WWW-Authenticate: Bearer; message says why)
//	403 forbidden          Handler.Auth or Handler.Authorize refused the
//	                       topic
//	405 method_not_allowed not GET or HEAD (with Allow)
//	410 cursor_expired     the cursor left the history or belongs to another
//	                       epoch (bus.ErrCursorExpired); "top" holds the
//	                       topic's current top: reload, then poll after it
//	503 over_capacity      more than Handler.MaxInFlight requests at once,
//	                       with Retry-After
//	503 unavailable        the broker is closed or failing, or Handler.Auth
//	                       could not check the credentials, with Retry-After
//	500 internal           anything else
//
// # Client
//
// [Client] waits Interval, or X-Poll-Interval when longer, plus up to a
// fifth at random between polls, and asks again at once after a full batch.
// It sends If-None-Match and retries failed requests as the retry policy
// below says. A 410 ends the subscription with a [*bus.CursorError]
// wrapping [bus.ErrCursorExpired] that carries the top ([bus.TopOf]). It
// checks continuity with a [bus.Tracker], as every client of this module
// does: every ID must follow the previous one ([bus.Position.Follows]); it
// drops duplicates and ends with a *bus.CursorError wrapping
// bus.ErrCursorExpired on a gap rather than skip anything.
//
// # Retry policy
//
// The four clients (poll, longpoll, sse, ws) retry and give up alike:
//
//   - Retried, for as long as the context lasts, after an exponential
//     backoff with jitter (Client.MinBackoff to Client.MaxBackoff): network
//     errors and the statuses 408, 425, 429, 500, 502, 503 and 504 (and
//     the other 5xx but 501 and 505), such as a 503 over_capacity or a
//     server restarting during a rolling deploy. The wait is at least the
//     server's Retry-After (seconds or an HTTP date) plus up to a tenth
//     at random, and at most 10 minutes however long it asks. The first
//     request is retried too, before Subscribe returns.
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
// once in use. The Handler starts no goroutine; each subscription of a
// Client runs one, which ends before Close returns.
package poll
