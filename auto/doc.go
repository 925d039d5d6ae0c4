// Package auto serves bus topics over every transport under one path prefix
// and consumes them, in Go and in the browser, over the best transport that
// works, falling back and upgrading again by itself with one cursor, so a
// consumer behind a hostile proxy misses nothing and sees nothing twice.
//
// # Server
//
// [Handler] composes a ws.Handler, an sse.Handler, a longpoll.Handler and a
// poll.Handler over one Broker, with one Auth (package auth), one Authorize
// hook, one OnPublish hook and one set of limits, and adds three routes. Mounted at Prefix:
//
//	GET  Prefix/negotiate[?topic=T]  the transports, in order, and T's top
//	GET  Prefix/ws                   WebSocket, protocol "pushpull.v1" (package ws)
//	GET  Prefix/sse?topic=T          Server-Sent Events (package sse)
//	GET  Prefix/longpoll?topic=T     long polling (package longpoll)
//	GET  Prefix/poll?topic=T         short polling (package poll)
//	POST Prefix/publish?topic=T      publish over HTTP
//	GET  Prefix/client.js            the browser module
//
// A transport left out of Handler.Transports answers 404 and is not listed.
// The negotiate answer lists the transports with URLs relative to its own:
//
//	{"transports":[{"name":"websocket","url":"ws"},{"name":"sse","url":"sse"},
//	  {"name":"longpoll","url":"longpoll"},{"name":"poll","url":"poll"}],
//	 "publish":"publish","top":"k3v9q2d8ma1-41"}
//
// With Handler.Auth set, every route but client.js authenticates first:
// 401 with WWW-Authenticate: Bearer without valid credentials (the reason in
// the body's message), 503 with Retry-After when they cannot be checked.
// With a topic parameter negotiate then asks Auth and Authorize for a
// subscription (403 when refused) and
// adds "top", the topic's newest ID (bus.Origin when it has none): the
// clients start "new messages only" subscriptions after it, so every
// transport they may switch to resumes from the same position, and probe
// with it (below). With after=latest too it adds "latest", the cursor the
// topic's newest message follows (bus.LatestCursor): subscriptions that
// start with bus.Latest start every transport after it, for the same
// reason. Errors are the JSON bodies of package poll.
//
// The publish route takes a JSON body with the fields of a ws publish frame,
// {"type":"…","data":"text"} or {"data64":"base64 bytes"}, optionally
// "meta":{…}, and answers 200 {"id":"…","time":"…"}. Refusals:
//
//	400 bad_request            the body is not such an object, or has both data and data64
//	400 invalid_topic          no topic, or an invalid name
//	400 invalid_message        the broker or OnPublish refused the type or message
//	401 unauthorized           Auth found no valid credentials
//	403 forbidden              Auth, Authorize or OnPublish refused, or a foreign Origin
//	                           not in OriginPatterns
//	405 method_not_allowed     not POST
//	413 too_large              the body exceeds MaxMessageBytes (64 KiB by default)
//	415 unsupported_media_type not application/json (which also makes
//	                           cross-origin browsers send a CORS preflight)
//	503 unavailable            the broker is closed or failing, or the credentials
//	                           could not be checked
//
// Over WebSocket a client publishes with the ws protocol; Auth, Authorize,
// OnPublish and MaxMessageBytes (the frame's read limit) apply there too.
// OnPublish sees the message with the publisher's identity on both routes,
// so one hook stamps or refuses every publish, e.g. with auth.Stamp:
//
//	h := &auto.Handler{Broker: b, Auth: bearer,
//		OnPublish: func(_ context.Context, id *auth.Identity, m *bus.Message) error {
//			return auth.Stamp(m, "from", id)
//		}}
//
// The Go Client sends Client.Token's bearer token with every request, so a
// live connection the server ends at its token's expiry comes back with a
// fresh one from the subscription's cursor, on any transport.
//
// # Transport order
//
// Clients try the transports in the server's order unless told otherwise
// (Client.Transports, the browser's transports option): WebSocket, SSE,
// long polling, polling. The first that opens within ConnectTimeout is
// used; the others are the fallbacks, in order.
//
// # Probes and timeouts
//
// A transport can fail loudly (a refused handshake, a 4xx, a closed
// connection) or quietly: a proxy that accepts the WebSocket upgrade and
// forwards no frame, one that buffers an event stream until it ends, one
// that stops forwarding in the middle. The clients catch the quiet ones
// with bounded probes, all answered by the negotiate route:
//
//   - Opening: a transport must open within ConnectTimeout (5 s): the
//     WebSocket handshake and the ack of the subscribe, the head of the
//     SSE response, the first long-polling or polling answer (not held).
//     A proxy that holds the handshake or the head fails here.
//   - Delivery: right after a transport opens, and again whenever
//     ProbeInterval (15 s) passes without a message, the client asks for
//     the topic's top. When the top lies beyond the last message
//     delivered, the transport has ProbeTimeout (5 s) to deliver
//     something; if it does not, it is left for the next one (ErrStalled).
//     An idle topic costs one small GET per ProbeInterval and nothing is
//     judged stalled while there is nothing to deliver.
//   - Upgrade: a subscription that fell back tries the better transports
//     again after UpgradeInterval (30 s), doubling after each failure up to
//     ten times that (5 minutes). The candidate runs beside the current
//     transport and takes over once it delivers a message, or at once when
//     the top shows nothing pending; one that does neither within
//     ProbeTimeout is dropped. Its first messages may repeat the current
//     transport's; the cursor check drops them.
//
// # What a switch costs
//
// Nothing is lost or repeated: every message passes one continuity check
// (bus.Tracker in Go, the same rule in the browser) whatever transport it
// came from, and every transport opens after the ID of the last message
// delivered. Time is what a switch costs:
//
//   - a refused upgrade: one failed handshake (a round trip);
//   - a silent upgrade or a buffered event stream: ConnectTimeout;
//   - a transport that stops delivering: at most ProbeInterval +
//     ProbeTimeout after the first undelivered message, plus the replay
//     of what was published meanwhile from the broker's history;
//   - returning to WebSocket: UpgradeInterval after the fallback (more
//     after failed attempts).
//
// The history must hold what a topic receives during the longest of these
// (see the bus package on sizing), or the switch ends in a reset.
// BenchmarkSwitch measures them with short settings.
//
// What each transport carries also differs: SSE carries the ID, Type and
// Data as UTF-8 text only (no Meta, no Time, binary payloads are not
// preserved); the others carry every field byte for byte.
//
// # Resets
//
// A cursor the server cannot serve whole (older than the history, of
// another epoch, beyond the top) is never served partially, on any
// transport. The Go [Client] ends the subscription with a *bus.CursorError
// wrapping bus.ErrCursorExpired whose Top is the topic's top, as every Go
// client of this module does: reload the state and subscribe after Top. The
// browser module calls the subscription's onReset with {topic, cursor, top}
// and continues after top by itself, as an EventSource does after the SSE
// reset event.
//
// # Browser module
//
// Served at Prefix/client.js (and by [ClientJS]), an ES module with JSDoc
// types, no dependencies and no build step, importable from a page or a
// bundler; about 4 KB minified and gzipped (4,287 bytes with esbuild
// 0.24 --minify and gzip -9):
//
//	import { Client } from "/rt/client.js";
//	const c = new Client("/rt");
//	const sub = await c.subscribe("news", {
//	  after: "",                              // "" new only, "0" all retained, "latest", or an id
//	  onMessage: (m) => show(m.id, m.data),
//	  onReset: (r) => reload(r.top),
//	  onTransport: (name) => {},
//	  onError: (err) => {},                   // ended for good, e.g. 403
//	});
//	await c.publish("news", "hello", { type: "note" });
//	sub.close();
//
// It reads event streams with fetch rather than EventSource (so events of
// every type arrive and the probes see the stream's head), and publishes
// with fetch POST. Its options have the names and defaults of the Client's
// fields.
//
// # Zero values and concurrency
//
// A Handler needs Broker; a Client needs URL. Their other fields have
// useful zero values and must not be changed after first use. Both are safe
// for concurrent use. Each Client subscription runs one goroutine (and
// those of the transport client in use), which end before Close returns.
package auto
