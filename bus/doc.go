// Package bus is the message bus under every pushpull transport: topics with
// a bounded history, cursors that let any consumer resume with no gap and no
// duplicate, and fan-out that never lets a slow subscriber hold up others.
//
// # Model
//
// A [Message] lives on a topic and gets an ID from the broker when it is
// published. The ID is the cursor ("everything after ID x"). It is the wire
// form of a [Position]: the topic's epoch, naming the generation of its
// storage, and a contiguous offset within it (1, 2, 3, …), written
// "<epoch>-<offset>". A consumer proves it missed nothing by checking that
// each ID [Position.Follows] the previous one. IDs are short ASCII, safe in
// URLs, HTTP headers and SSE id fields.
//
// Interfaces are small and consumer-sized, as in package io: [Publisher],
// [Subscriber], [Reader], composed into [Broker]. Each transport's client
// (sse.Client, ws.Client, longpoll.Client, poll.Client) implements
// [Subscriber] too, so code that consumes messages does not care whether they
// come from an in-process broker or over the network.
//
// # Cursors
//
// Subscribe and Read take a cursor:
//
//   - "" — only what is published from now on (Read: the newest messages);
//   - [Oldest] ("0") — everything the history still holds, then live;
//   - [Origin] ("0-0") — from the topic's first message, while it is
//     retained; it is the top of a topic that has no message, so a consumer
//     can hold a cursor for a topic before it exists;
//   - a message ID — what follows that message.
//
// A cursor that cannot be served whole — older than the history, from another
// epoch (a restarted memory broker, a flushed Redis), or beyond the top — is
// refused with [ErrCursorExpired], as a [*CursorError] carrying the topic's
// current top, and no partial replay. The consumer reloads its state and
// continues after that top. A string that is not an ID at all gets
// [ErrInvalidCursor]. A topic's epoch and top outlive its messages, so
// "nothing new after x" stays answerable after the data expired.
//
// Only Publish creates a topic. Reading one, asking for its top or
// subscribing to it leaves nothing behind once the call or subscription
// ends, so requests naming topics that do not exist cost no memory.
// [History] is where every broker judges cursors, so they all answer alike.
//
// # Slow consumers
//
// Publish never waits for subscribers. A subscriber that falls behind a burst
// catches up from the history while its position is still retained, for as
// long as it keeps taking messages or reporting [Progress]; one that
// stops reading is cut with [ErrSlowConsumer] while its position is still
// retained, so it resumes after its last ID; one whose position left the
// history ends with [ErrCursorExpired]. Every ending is reported by
// [Subscription.Err] once the channel is closed.
//
// # Sizing the history
//
// A consumer can resume only while its position is still in the history.
// Each topic's history must therefore hold every message published while a
// consumer may be away: between two requests, or from a dropped connection
// to the next one. Size it by count as
//
//	HistorySize ≥ rate × away × margin
//
// where rate is the topic's peak rate in messages per second, away the
// longest absence to survive — the reconnection time plus the client's
// backoff (SSE: the retry time, 3 s by default, plus the Client's backoff
// after failed attempts; long polling: the backoff after a failed request;
// short polling: the interval; WebSocket: the reconnect backoff; a webhook
// Dispatcher: the longest endpoint outage to bridge), plus a restart or
// rolling deploy of the server if clients should survive that too — and
// margin a factor of about 2 for bursts and slow networks. The
// age limit (HistoryTTL) must exceed away as well. A consumer whose
// position has left the history gets [ErrCursorExpired] (an SSE reset, a
// 410) and must reload its state: with a history too small for the rate,
// every reconnection does.
//
// For example, a topic that peaks at 500 messages per second, read over
// SSE with the default 3 s retry, by clients that should ride out a 5 s
// server restart: 500 × (3 + 5) = 4,000 messages, × 2 = 8,000, so
// HistorySize 8,000 (about 8 MiB per topic at 1 KiB per message). The
// default of 1,000 covers 3 s of absence up to about 330 messages per
// second, without margin. [Memory.MaxLag] defaults to half the history,
// so a larger history also lets a stopped subscriber lag further before it
// is cut.
//
// # Brokers
//
// [Memory] is the embedded broker: zero configuration, no dependencies, a
// ring buffer per topic. The bus/redisbus, bus/natsbus and bus/pgbus
// modules run the same contract on Redis, NATS JetStream and PostgreSQL for
// services with several instances (pgbus also publishes inside the
// application's own transaction). Package bus/bustest holds the conformance
// suite all of them pass.
//
// # Writing a broker
//
// Every broker of this project is storage plus the same engine, and a broker
// written elsewhere can be too:
//
//   - [Hub] is the fan-out engine: one feed per topic in a process, live
//     delivery that never waits, catching up from the history, cutting
//     stalled subscribers, proving continuity. Memory, redisbus, natsbus
//     and pgbus run on it.
//   - [History] judges cursors: where a subscription starts, which cursors
//     have expired, and the top to report with them. [CheckArgs] and
//     [CheckPublish] validate arguments in the order every broker does.
//   - [AppendRecord] and [DecodeRecord] are the stable stored form of a
//     message, for brokers that keep bytes.
//   - [Tracker] is the other side: the one continuity check of every
//     client, which drops duplicates and turns a gap into a [*CursorError].
//
// A broker that runs on these and passes bustest.Run behaves like the
// others in every transport.
package bus
