// Package pushpull is a toolkit for the five ways services talk to their
// clients and to each other: short polling, long polling, Server-Sent Events,
// WebSockets and webhooks. Each pattern is a package with an http.Handler and
// a client; all of them sit on one message bus, [bus.Broker], which keeps a
// bounded history per topic.
//
// Every message gets an ID from the broker. The ID is the cursor: it carries
// the topic's epoch and a contiguous offset, so any client that drops and
// comes back resumes after its last ID with no gap and no duplicate, whatever
// the transport. When a cursor cannot be served whole (the history moved on,
// the storage was lost) the client is told so explicitly — an HTTP 410, an
// SSE reset event, a WebSocket error frame, all mapped back to
// [bus.ErrCursorExpired] — never a silent skip. Besides message IDs, every
// transport takes the same few cursors: "" for what is published from now
// on, [bus.Oldest] for the whole history, [bus.Latest] for the current value
// (the newest message) and what follows it.
//
// The bus runs in memory ([bus.Memory]) by default, and on Redis, NATS
// JetStream or PostgreSQL (the bus/redisbus, bus/natsbus and bus/pgbus
// modules) when a service runs on more than one instance. Package auto
// serves the four client-facing transports under one prefix, with a Go and
// a browser client that fall back from one to the next.
//
// # Which pattern when
//
// Short polling (package poll): the client asks "anything after x?" at an
// interval and gets an answer at once. Pull, one direction. Latency is up to
// one interval; each poll costs a request even when nothing changed, which
// ETags and 304 responses make cheap. Stateless on the server, works through
// every proxy and cache. Best for dashboards and status pages that can be a
// few seconds behind, and for clients that wake up rarely.
//
// Long polling (package longpoll): the same request, but the server holds it
// until something arrives or a timeout passes. Near-push latency with plain
// request/response, one held request per client. Best where streaming is
// blocked (strict proxies, some serverless front ends) but updates must be
// prompt.
//
// Server-Sent Events (package sse): one long HTTP response that the server
// writes events into. Push, server to client only. Lowest cost for one-way
// feeds, reconnect and Last-Event-ID resume are built into browsers'
// EventSource. One open connection per client. Best for live feeds, tickers,
// notifications and progress.
//
// WebSockets (package ws): one full-duplex connection carrying several topics
// and publishes in both directions. Lowest latency, the most state per client
// (a connection, a reader and a writer). Best for chat, games, collaborative
// editing — whenever clients send as much as they receive.
//
// Webhooks (package webhook): the server calls the consumer's HTTP endpoint,
// signed (Standard Webhooks), retried with backoff, dead-lettered when it
// keeps failing; the receiving side verifies, deduplicates and orders. Push
// between services, no open connection, latency from milliseconds to the
// retry schedule. Best for notifying other systems (payments, CI, partners)
// that are not connected when the event happens.
//
// Producers publish to the bus once; any mix of the five serves the same
// topic to different consumers.
package pushpull
