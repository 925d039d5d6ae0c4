// Package ws serves and consumes bus topics over WebSocket connections,
// several topics per connection in both directions, on
// github.com/coder/websocket.
//
// [Handler] is the server: an http.Handler that upgrades requests and speaks
// the envelope protocol below, fanning each topic out from one broker
// subscription per Handler and topic. [Client] is the Go client: a
// bus.Subscriber and bus.Publisher that reconnects and resumes by itself:
//
//	c := ws.NewClient("wss://example.com/ws")
//	c.Header = http.Header{"Authorization": {"Bearer " + token}}
//	if err := c.Connect(ctx); err != nil { … }
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, "orders", lastID)
//
// [ClientJS] serves the same client as a dependency-free browser ES module.
//
// # Protocol "pushpull.v1"
//
// The client asks for the subprotocol "pushpull.v1" (Sec-WebSocket-Protocol);
// a server that answers without it does not speak this protocol. (The
// Handler also accepts connections that ask for no subprotocol, for
// applications that only use Handler.OnMessage.) A later
// incompatible revision gets a new name. Every frame is a text frame. An
// envelope is one JSON object with a string field "op", written without a
// raw newline (the JSON encoders of Go and JavaScript never write one:
// newlines inside strings are escaped); unknown fields are ignored, so
// later revisions may add optional ones. A client sends one envelope per
// frame. The server sends one envelope per frame, or a batch: several
// envelopes in one frame, separated by a single newline ("\n"), with none
// before the first or after the last. A client splits a frame at its
// newlines and handles the envelopes in order, exactly as if each had come
// in a frame of its own; a frame without a newline is a single envelope,
// so clients that split read both forms. The server batches only on
// connections that negotiated "pushpull.v1", and keeps every batch at most
// Handler.BatchBytes (16 KiB) long unless it holds a single envelope.
// Frames and envelopes of one connection are handled in order.
//
// Client to server:
//
//	{"op":"subscribe",   "topic":T, "after":C?, "ref":R?}
//	{"op":"unsubscribe", "topic":T, "ref":R?}
//	{"op":"publish",     "topic":T, "type":Y?, "data":S? | "data64":B?, "meta":{…}?, "ref":R?}
//
// Server to client:
//
//	{"op":"message", "topic":T, "id":I, "type":Y?, "data":S? | "data64":B?, "meta":{…}?, "time":W?}
//	{"op":"ack",     "ref":R?, "topic":T, "id":I?, "time":W?}
//	{"op":"error",   "ref":R?, "topic":T?, "code":K, "message":M}
//	{"op":"reset",   "ref":R?, "topic":T, "top":I, "message":M?}
//
// The fields:
//
//   - topic: 1 to 200 bytes of ASCII letters, digits and - _ . : / @ + = ~.
//   - after: the cursor. Absent or "" means messages published from now on;
//     "0" means the whole retained history; "latest" the topic's newest
//     message, then what follows; otherwise the id of a message of the
//     topic: delivery starts with the message after it.
//   - ref: any string of at most 128 bytes chosen by the client; the ack,
//     error or reset that answers the request carries it back.
//   - id: a message ID, "<epoch>-<offset>" (ASCII letters and digits, a
//     dash, a decimal number). Offsets of a topic are contiguous within an
//     epoch, so each message's id follows the previous one: same epoch,
//     offset + 1. A client checks this to prove it missed nothing.
//   - type: an optional event type, at most 200 bytes, no control
//     characters. meta: optional string-to-string headers. Both are JSON
//     strings, so they must be UTF-8 (Client.Publish refuses other types);
//     invalid bytes in a message stored by other means arrive as U+FFFD.
//   - data / data64: the payload, byte for byte. A payload that is valid
//     UTF-8 travels as the JSON string "data"; any other payload travels as
//     "data64", standard base64 with padding (RFC 4648 §4). A frame carries
//     at most one of them; neither means an empty payload. (A JavaScript
//     client sends a string as "data" and a Uint8Array as "data64"; JSON
//     strings with lone surrogates have no UTF-8 form and are replaced by
//     U+FFFD.)
//   - time: when the message was stored, RFC 3339 with nanoseconds, UTC.
//
// A subscribe is answered by an ack whose id is the cursor the subscription
// starts after: the given after; for an absent after, the topic's top at
// that moment; for "latest", the cursor its newest message follows. A
// client that reconnects before any message arrives resumes from it, and
// so misses nothing. The ack precedes every message of the
// subscription. Then come the retained messages after the cursor, then live
// ones, each exactly once, in order. A cursor that cannot be served whole
// (older than the history, of another epoch, beyond the top) is answered by
// a reset carrying the topic's current top instead of an ack: the client
// reloads its state and subscribes after top. A reset can also end a running
// subscription, and a client that reconnects to a server whose storage was
// reset (a restart with a fresh in-memory bus: a new epoch) gets one for
// every subscription it resumes. Either way the server no longer holds the
// subscription; the client subscribes again after top. A publish is answered by an ack carrying the stored
// message's id (and time). An unsubscribe is answered by an ack when it has
// a ref; messages queued before it may still arrive and are to be ignored.
//
// Error codes: "bad_request" (malformed frame, or an op clients may not
// send), "invalid_topic", "invalid_cursor", "invalid_message",
// "forbidden" (Handler.Auth, Handler.Authorize or Handler.OnPublish
// refused), "too_many_subscriptions",
// "already_subscribed" (one subscription per topic and connection),
// "closed" (the broker closed), "slow_consumer", "internal". An error
// without a ref but with a topic ends that topic's subscription. The
// connection stays open after every error frame.
//
// Close codes used by the Handler:
//
//   - 1001 going away: Shutdown. Reconnect elsewhere or later.
//   - 1003 unsupported data: a binary frame (unless OnMessage took it).
//   - 1007 invalid frame payload data: a text frame that is not UTF-8.
//   - 1008 policy violation: 16 malformed frames in a row.
//   - 1009 message too big: a frame over Handler.ReadLimit (64 KiB).
//   - 4000 slow consumer ([CloseSlowConsumer]): frames the application
//     queued with Conn.Send overflowed the queue (Handler.QueueSize
//     frames). Nothing was lost: reconnect and subscribe after the last
//     id received. Live messages never cause it: a subscription that falls
//     behind catches up from history (see Guarantees). A peer that stops
//     reading altogether cannot even receive a close frame; its
//     connection is dropped once a write has been stuck for WriteTimeout.
//   - 4001 credentials expired ([CloseExpired]): the identity Handler.Auth
//     found for the connection expired. Nothing was lost: reconnect with
//     fresh credentials and subscribe after the last id received. The
//     Client reconnects by itself; give it fresh credentials per upgrade
//     with an http.RoundTripper in its HTTPClient, or it stops with the
//     401 of its next handshake.
//
// With Handler.Auth set, an upgrade request without valid credentials is
// refused with 401 before the upgrade (503 when they cannot be checked);
// see package auth. A browser's WebSocket cannot set headers: send the
// token in a cookie or a query parameter (auth.Bearer).
//
// A connection that does not answer a ping (every PingInterval) within
// PongTimeout is dropped. Browsers answer pings by themselves.
//
// # Guarantees
//
// Publishers and connections never wait for one another: each connection
// has one reader goroutine (ServeHTTP's), which reads and serves each
// frame of the client on a short-lived goroutine of its own so that its
// own stack stays small while it waits (an idle connection costs one
// goroutine with a 4 KiB stack), and a writer goroutine that exists only
// while the connection has frames queued or a subscription behind, and
// for a quarter to half a second after, so a busy connection does not
// start one per message. Each message is encoded once per Handler and the
// same bytes are queued on every subscribed connection; replays and
// catch-ups from history share the encodings of recent messages too. A
// subscription replays history at its own pace (never filling more than
// half the queue) before it joins the live fan-out, with no gap and no
// duplicate at the seam.
//
// The writer takes every frame waiting in the queue at once and writes
// them coalesced into batch frames, each with one write: the busier a
// connection, the more envelopes each write carries. A subscription whose
// live message finds the queue three quarters full is not cut: it keeps
// its position, leaves the fan-out, and the writer feeds it from the
// broker's history (Broker.Read after its last message, one batch frame
// of up to 128 messages per turn) until it has caught up, then it rejoins
// the live fan-out, again with no gap and no duplicate. Each turn the
// writer writes what the other topics queued before it feeds one lagging
// subscription (in turn), so a flooded topic never holds back the other
// topics of its connection beyond its share. A subscription whose cursor
// leaves the history while it is behind gets a reset, as at subscribe.
// Only a connection that accepts no bytes for WriteTimeout is cut. With
// Handler.WriteDelay set, the writer writes at most once per WriteDelay,
// so steady traffic is coalesced too, not only a backlog (at 1,000
// connections × 100 messages a second, 50 ms cost about 0.6× the server
// CPU per delivery of a bare coder/websocket loop; BENCHMARKS.md).
//
// A client may pipeline requests: send any number back to back and read
// the answers as they come; each is answered, in order, and its own
// requests never get its connection closed. The Handler reads a
// connection's next frame only while its queue is less than half full
// (counting the messages the client published to its own subscriptions
// that the fan-out has yet to queue), so a client that sends faster than
// it reads is slowed down by TCP flow control, and a client that stops
// reading is no longer read at all.
//
// The Client resubscribes every topic after its last delivered id when it
// reconnects. It checks every id with a bus.Tracker, as all clients of this
// module do: a duplicate is dropped, and a message whose id does not follow
// the previous one (a gap, another epoch) ends the subscription with a
// *bus.CursorError wrapping bus.ErrCursorExpired whose Cursor is the last id
// delivered; test for it with errors.Is(err, bus.ErrCursorExpired) and
// subscribe again after Cursor. Publish returns
// once the server acknowledged; a publish that was sent on a connection that
// broke before the ack fails with ErrNoAck (the message may or may not be
// stored), one not yet sent is sent after the reconnect. Reconnects follow
// the retry policy below and go on until Close, except when the server
// refuses the handshake for good, or sends a frame over
// Client.ReadLimit: then the Client stops and its subscriptions end
// with that error. A subscribe
// cursor the server cannot serve whole — expired, of another epoch, or
// beyond the top — is answered with a reset frame carrying the top, never
// served partially. The Client ends that subscription with a
// *bus.CursorError (wrapping bus.ErrCursorExpired) whose Top is the top:
// reload the state and subscribe after Top. The browser client
// ([ClientJS]) hands the reset (a ServerError with code "cursor_expired",
// top and cursor) to the subscription's onReset and continues after the top
// by itself, as a browser EventSource does after the SSE reset event; only
// a subscribe call whose own cursor cannot be served is rejected instead.
//
// # Retry policy
//
// The four clients (poll, longpoll, sse, ws) retry and give up alike, for
// Client.Connect's first connection as for every reconnect:
//
//   - Retried, until Connect's context ends or, once connected, until Close,
//     after an exponential backoff with jitter (Client.MinBackoff to
//     MaxBackoff): network errors and the statuses 408, 425, 429, 500,
//     502, 503 and 504 (and the other 5xx but 501 and 505), such as the 503
//     of a Handler over MaxConnections or after Shutdown during a rolling
//     deploy. The wait is at least the server's Retry-After (seconds or an
//     HTTP date) plus up to a tenth at random, and at most 10 minutes
//     however long it asks.
//   - Not retried: 400, 401, 403, 404 and every other status. Connect returns
//     a [*StatusError] carrying the status and the server's message, or,
//     when a reconnect is refused, the Client stops: its subscriptions end
//     and their Err, like later calls, returns it; errors.As finds it.
//
// # Custom frames
//
// Handler.OnMessage sees every frame before the protocol does. A chat or a
// game can handle its own frames there (and answer with Conn.Send) and hand
// the rest to the protocol by returning false.
//
// # Zero values and concurrency
//
// A Handler needs Broker; every other field has a documented default. A
// Client needs its URL (NewClient takes it) and then Connect; its other
// fields have documented defaults. A nil Logger on either means no logging.
// Handler, Conn and Client are safe for concurrent use. Handler.Shutdown
// ends the connections; wire it to http.Server.RegisterOnShutdown, which
// does not wait for hijacked connections.
package ws
